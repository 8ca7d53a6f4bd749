from chatkit_backend.cli.main import main

main()
