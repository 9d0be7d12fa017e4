/// The console's stylesheet (served as `/static/console.css`; no inline styles anywhere).
enum ConsoleStyle {
    static let css = """
        body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1d2330; background: #f6f7f9; }
        header.top { display: flex; gap: 1.5em; align-items: center; padding: .6em 1.2em; background: #1d2330; color: #fff; }
        header.top a { color: #fff; text-decoration: none; }
        header.top nav { display: flex; gap: 1em; flex: 1; }
        header.top .who { opacity: .8; }
        main { padding: 1em 1.2em; }
        form.inline { display: inline; }
        .filters { display: flex; gap: .5em; margin-bottom: .8em; }
        table { border-collapse: collapse; width: 100%; background: #fff; }
        th, td { text-align: left; padding: .3em .6em; border-bottom: 1px solid #e3e6ea; white-space: nowrap; }
        td.status-online { color: #137333; }
        td.status-degraded { color: #b06000; }
        td.status-offline { color: #a50e0e; }
        tr.changed { background: #fff6d5; }
        .error { color: #a50e0e; font-weight: 600; }
        .hint { color: #5f6673; }
        #live-notice { color: #b06000; margin: 0 0 .6em; }
        #live-notice:empty { display: none; }
        pre { background: #fff; padding: .6em; overflow: auto; max-height: 30em; }
        """
}
