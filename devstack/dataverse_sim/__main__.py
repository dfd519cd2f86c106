from devstack.dataverse_sim import main

main()
