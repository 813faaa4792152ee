from pcviz.cli import main

raise SystemExit(main())
