from facegate.app.cli import main

main()
