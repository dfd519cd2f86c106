from devstack.graph_sim import main

main()
