"""The SageMaker simulator and moto fixtures, for the interruption and fault tests here."""

from tests.aws.conftest import (  # noqa: F401  (pytest fixtures, shared)
    autoscaling,
    aws_env,
    cloudwatch,
    moto_server,
    project,
    sagemaker,
    sim,
)
