"""Local HTTP servers that answer like the three public price APIs, for `catalog refresh` tests.

The response shapes follow each API's documentation: AWS Price List `GetProducts` (JSON 1.1,
`PriceList` as JSON strings, `NextToken` paging, `__type` errors), Azure Retail Prices
(`Items`, `NextPageLink` as an absolute URL), GCP Cloud Billing Catalog `services/{id}/skus`
(`skus`, `pricingInfo.pricingExpression.tieredRates[].unitPrice` in units + nanos,
`nextPageToken`, Google error envelope). Pages are kept small so paging is exercised.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# ---------------------------------------------------------------- AWS


def aws_product(service: str, sku: str, attributes: dict[str, str], usd: str) -> str:
    """One PriceList entry as the API returns it: a JSON document in a string."""
    offer = "JRTCKXETXF"
    return json.dumps(
        {
            "product": {
                "productFamily": "ML Instance" if service == "AmazonSageMaker" else "Compute Instance",
                "attributes": {"servicecode": service, **attributes},
                "sku": sku,
            },
            "serviceCode": service,
            "terms": {
                "OnDemand": {
                    f"{sku}.{offer}": {
                        "priceDimensions": {
                            f"{sku}.{offer}.6YS6EN2CT7": {
                                "unit": "Hrs",
                                "endRange": "Inf",
                                "description": f"${usd} per On Demand hour",
                                "appliesTo": [],
                                "rateCode": f"{sku}.{offer}.6YS6EN2CT7",
                                "beginRange": "0",
                                "pricePerUnit": {"USD": usd},
                            }
                        },
                        "sku": sku,
                        "effectiveDate": "2026-11-01T00:00:00Z",
                        "offerTermCode": offer,
                        "termAttributes": {},
                    }
                }
            },
            "version": "20261101000000",
            "publicationDate": "2026-11-01T00:00:00Z",
        }
    )


AWS_PRODUCTS = {
    "AmazonSageMaker": [
        (
            "SM1",
            {
                "instanceName": "ml.g5.xlarge",
                "component": "Hosting",
                "regionCode": "us-east-1",
                "location": "US East (N. Virginia)",
            },
            "1.4080000000",
        ),
        ("SM2", {"instanceName": "ml.g5.xlarge", "component": "Training", "regionCode": "us-east-1"}, "1.4100000000"),
        ("SM3", {"instanceName": "ml.inf2.xlarge", "component": "Hosting", "regionCode": "us-east-1"}, "0.9900000000"),
    ],
    "AmazonEC2": [
        (
            "EC1",
            {
                "instanceType": "g5.xlarge",
                "operatingSystem": "Linux",
                "tenancy": "Shared",
                "preInstalledSw": "NA",
                "capacitystatus": "Used",
                "regionCode": "us-east-1",
            },
            "1.0060000000",
        ),
        (
            "EC2",
            {
                "instanceType": "g5.xlarge",
                "operatingSystem": "Linux",
                "tenancy": "Shared",
                "preInstalledSw": "NA",
                "capacitystatus": "Used",
                "regionCode": "ap-south-1",
            },
            "1.2300000000",
        ),
        (
            "EC3",
            {
                "instanceType": "g5.xlarge",
                "operatingSystem": "Windows",
                "tenancy": "Shared",
                "preInstalledSw": "NA",
                "capacitystatus": "Used",
                "regionCode": "us-east-1",
            },
            "1.8000000000",
        ),
    ],
}


class _AwsHandler(BaseHTTPRequestHandler):
    server: Any

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
        target = self.headers.get("X-Amz-Target", "")
        self.server.calls.append((target, body))
        if target != "AWSPriceListService.GetProducts":
            return self._error(400, "UnknownOperationException", f"unknown operation {target}")
        if self.server.throttle_once:
            self.server.throttle_once = False
            return self._error(400, "ThrottlingException", "Rate exceeded")
        service = body.get("ServiceCode")
        if service not in AWS_PRODUCTS:
            return self._error(400, "InvalidParameterException", f"Input for ServiceCode is invalid: {service}")
        wanted = {f["Field"]: f["Value"] for f in body.get("Filters", []) if f["Type"] == "TERM_MATCH"}
        matching = [
            aws_product(service, sku, attrs, usd)
            for sku, attrs, usd in AWS_PRODUCTS[service]
            if all(attrs.get(k) == v for k, v in wanted.items())
        ]
        start = int(body.get("NextToken") or 0)
        page = matching[start : start + 1]  # one per page: paging is exercised
        doc: dict[str, Any] = {"FormatVersion": "aws_v1", "PriceList": page}
        if start + 1 < len(matching):
            doc["NextToken"] = str(start + 1)
        self._send(200, doc)

    def _error(self, status: int, kind: str, message: str) -> None:
        self._send(status, {"__type": kind, "Message": message})

    def _send(self, status: int, doc: dict[str, Any]) -> None:
        raw = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("x-amzn-RequestId", "0f8b6a4e-0000-4000-8000-000000000000")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


# ---------------------------------------------------------------- Azure


def azure_item(sku: str, region: str, price: float, variant: str = "", product_suffix: str = "") -> dict[str, Any]:
    short = sku.removeprefix("Standard_").replace("_", " ")
    name = f"{short} {variant}".strip()
    return {
        "currencyCode": "USD",
        "tierMinimumUnits": 0.0,
        "retailPrice": price,
        "unitPrice": price,
        "armRegionName": region,
        "location": {"eastus": "US East", "westus2": "US West 2"}.get(region, region),
        "effectiveStartDate": "2024-05-01T00:00:00Z",
        "meterId": f"meter-{sku}-{region}-{variant}",
        "meterName": name,
        "productId": "DZH318Z0BQ4L",
        "skuId": "DZH318Z0BQ4L/00G1",
        "productName": f"Virtual Machines NCasT4 v3 Series{product_suffix}",
        "skuName": name,
        "serviceName": "Virtual Machines",
        "serviceId": "DZH313Z7MMC8",
        "serviceFamily": "Compute",
        "unitOfMeasure": "1 Hour",
        "type": "Consumption",
        "isPrimaryMeterRegion": True,
        "armSkuName": sku,
    }


AZURE_ITEMS = [
    azure_item("Standard_NC4as_T4_v3", "eastus", 0.55),
    azure_item("Standard_NC4as_T4_v3", "eastus", 0.061, "Spot"),
    azure_item("Standard_NC4as_T4_v3", "eastus", 0.11, "Low Priority"),
    azure_item("Standard_NC4as_T4_v3", "eastus", 0.75, product_suffix=" Windows"),
    azure_item("Standard_NC4as_T4_v3", "westus2", 0.56),
]


class _AzureHandler(BaseHTTPRequestHandler):
    server: Any

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        self.server.calls.append(self.path)
        if url.path != "/api/retail/prices":
            return self._send(404, {"error": {"code": "NotFound", "message": "no such path"}})
        if self.server.throttle_once:
            self.server.throttle_once = False
            return self._send(429, {"Error": {"Code": "TooManyRequests", "Message": "Rate limit exceeded"}}, 0.2)
        flt = query.get("$filter", [""])[0]
        sku = flt.split("armSkuName eq '")[1].split("'")[0] if "armSkuName eq '" in flt else ""
        items = [i for i in AZURE_ITEMS if not sku or i["armSkuName"] == sku]
        skip = int(query.get("$skip", ["0"])[0])
        page = items[skip : skip + 2]
        next_link = None
        if skip + 2 < len(items):
            rest = urllib.parse.urlencode({"api-version": query["api-version"][0], "$filter": flt, "$skip": skip + 2})
            next_link = f"http://127.0.0.1:{self.server.server_port}/api/retail/prices?{rest}"
        self._send(
            200,
            {
                "BillingCurrency": "USD",
                "CustomerEntityId": "Default",
                "CustomerEntityType": "Retail",
                "Items": page,
                "NextPageLink": next_link,
                "Count": len(page),
            },
        )

    def _send(self, status: int, doc: dict[str, Any], retry_after: float | None = None) -> None:
        raw = json.dumps(doc).encode()
        self.send_response(status)
        if retry_after is not None:
            self.send_header("Retry-After", str(retry_after))
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


# ---------------------------------------------------------------- GCP


def gcp_sku(description: str, usage: str, regions: list[str], usd: float, unit: str = "h") -> dict[str, Any]:
    units, nanos = int(usd), round((usd - int(usd)) * 1e9)
    group = "GPU" if "GPU" in description else ("CPU" if "Core" in description else "RAM")
    return {
        "name": f"services/6F81-5844-456A/skus/{abs(hash(description + usage)) % 10**8:08d}",
        "skuId": f"{abs(hash(description + usage)) % 10**8:08d}",
        "description": description,
        "category": {
            "serviceDisplayName": "Compute Engine",
            "resourceFamily": "Compute",
            "resourceGroup": group,
            "usageType": usage,
        },
        "serviceRegions": regions,
        "pricingInfo": [
            {
                "summary": "",
                "pricingExpression": {
                    "usageUnit": unit,
                    "displayQuantity": 1,
                    "tieredRates": [
                        {
                            "startUsageAmount": 0,
                            "unitPrice": {"currencyCode": "USD", "units": str(units), "nanos": nanos},
                        }
                    ],
                    "usageUnitDescription": "hour" if unit == "h" else "gibibyte hour",
                    "baseUnit": "s" if unit == "h" else "By.s",
                    "baseUnitDescription": "second",
                    "baseUnitConversionFactor": 3600,
                },
                "currencyConversionRate": 1,
                "effectiveTime": "2026-11-20T00:00:00Z",
            }
        ],
        "serviceProviderName": "Google",
        "geoTaxonomy": {"type": "REGIONAL", "regions": regions},
    }


GCP_SKUS = [
    gcp_sku("G2 Instance Core running in Americas", "OnDemand", ["us-central1"], 0.024988),
    gcp_sku("G2 Instance Ram running in Americas", "OnDemand", ["us-central1"], 0.002927, "GiBy.h"),
    gcp_sku("Spot Preemptible G2 Instance Core running in Americas", "Preemptible", ["us-central1"], 0.01),
    gcp_sku("Spot Preemptible G2 Instance Ram running in Americas", "Preemptible", ["us-central1"], 0.0012, "GiBy.h"),
    gcp_sku("Nvidia L4 GPU running in Americas", "OnDemand", ["us-central1", "us-east4"], 0.5),
    gcp_sku("Spot Preemptible Nvidia L4 GPU running in Americas", "Preemptible", ["us-central1"], 0.2),
    gcp_sku("Commitment v1: G2 Cpu in Americas for 1 Year", "Commit1Yr", ["us-central1"], 0.015),
    gcp_sku("Nvidia L4 GPU attached to Sole Tenancy VMs running in Americas", "OnDemand", ["us-central1"], 0.9),
    gcp_sku("Network Internet Egress from Americas to Americas", "OnDemand", ["us-central1"], 0.12, "GiBy"),
]


class _GcpHandler(BaseHTTPRequestHandler):
    server: Any

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        self.server.calls.append(self.path)
        if query.get("key", [""])[0] != "test-key" and self.headers.get("Authorization") != "Bearer test-token":
            return self._send(
                403,
                {
                    "error": {
                        "code": 403,
                        "message": "The request is missing a valid API key.",
                        "status": "PERMISSION_DENIED",
                    }
                },
            )
        if url.path != "/v1/services/6F81-5844-456A/skus":
            return self._send(404, {"error": {"code": 404, "message": "Service not found", "status": "NOT_FOUND"}})
        start = int(query.get("pageToken", ["0"])[0] or 0)
        page = GCP_SKUS[start : start + 3]
        nxt = str(start + 3) if start + 3 < len(GCP_SKUS) else ""
        self._send(200, {"skus": page, "nextPageToken": nxt})

    def _send(self, status: int, doc: dict[str, Any]) -> None:
        raw = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


@contextmanager
def serve(kind: str) -> Iterator[Any]:
    """Run one of the servers on 127.0.0.1 (a free port); yields the server with `.url` and `.calls`."""
    handler = {"aws": _AwsHandler, "azure": _AzureHandler, "gcp": _GcpHandler}[kind]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.calls = []  # type: ignore[attr-defined]
    server.throttle_once = False  # type: ignore[attr-defined]
    server.url = f"http://127.0.0.1:{server.server_port}"  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
