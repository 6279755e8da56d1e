from snnviz.cli import main

raise SystemExit(main())
