from solbot.cli import main

main()
