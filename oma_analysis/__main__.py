from oma_analysis.cli import main

main()
