from scalectl.cli import main

main()
