/// The console's Mustache templates, compiled into the binary (no resource lookup, the same in
/// debug and release builds). `{{x}}` escapes HTML, quotes included; no template uses `{{{x}}}`.
/// Every element a browser test needs has an `id` or `data-test` attribute.
enum ConsoleTemplates {
    static let all: [String: String] = [
        "header": header, "footer": footer, "login": login, "message": message, "fleet": fleet,
        "agent": ConsoleAgentTemplates.agent, "batch": ConsoleAgentTemplates.batch,
        "commands": ConsoleAdminTemplates.commands, "audit": ConsoleAdminTemplates.audit, "tokens": ConsoleTokenTemplates.tokens, "token-created": ConsoleTokenTemplates.created,
        "sites": ConsoleAdminTemplates.sites,
    ]

    static let header = """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{title}} · GuruRMM</title>
        <link rel="stylesheet" href="/static/console.css?v={{assets.css}}">
        <script src="/static/console.js?v={{assets.js}}" defer></script>
        </head>
        <body data-page="{{page}}">
        <header class="top">
        <a href="/" class="brand" id="nav-home">GuruRMM</a>
        {{#operator}}
        <nav>
        <a href="/" id="nav-fleet" data-test="nav-fleet">Fleet</a>
        <a href="/commands" id="nav-commands" data-test="nav-commands">Commands</a>
        <a href="/sites" id="nav-sites" data-test="nav-sites">Sites</a>
        <a href="/tokens" id="nav-tokens" data-test="nav-tokens">Tokens</a>
        <a href="/audit" id="nav-audit" data-test="nav-audit">Audit</a>
        </nav>
        <span class="who" id="operator-name" data-test="operator-name">{{name}} ({{role}})</span>
        <form method="post" action="/logout" class="inline" id="logout-form" data-test="logout-form">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <button type="submit" id="logout" data-test="logout">Log out</button>
        </form>
        {{/operator}}
        </header>
        <main>
        <p id="live-notice" data-test="live-notice" role="status"></p>

        """

    static let footer = """

        </main>
        </body>
        </html>

        """

    static let login = """
        {{> header}}
        <h1>Log in</h1>
        {{#refused}}
        <p class="error" id="login-refused" data-test="login-refused">Login is refused on this connection: {{.}}</p>
        {{/refused}}
        {{^refused}}
        {{#error}}<p class="error" id="login-error" data-test="login-error">{{.}}</p>{{/error}}
        <form method="post" action="/login" id="login-form" data-test="login-form">
        <label for="token">Operator token</label>
        <input type="password" name="token" id="token" data-test="login-token" autocomplete="current-password" required autofocus>
        <button type="submit" id="login-submit" data-test="login-submit">Log in</button>
        </form>
        <p class="hint">Use an API token (<code>gururmm token create</code>, or the server's admin token).</p>
        {{/refused}}
        {{> footer}}
        """

    static let message = """
        {{> header}}
        <h1 id="message-title" data-test="message-title">{{heading}}</h1>
        <p id="message-text" data-test="message-text">{{text}}</p>
        <p><a href="{{back}}" id="message-back" data-test="message-back">Back</a></p>
        {{> footer}}
        """

    static let fleet = """
        {{> header}}
        <h1>Fleet</h1>
        <form method="get" action="/" id="fleet-filter" data-test="fleet-filter" class="filters">
        <input type="search" name="q" value="{{filter.q}}" placeholder="name starts with" id="filter-q" data-test="filter-q">
        <select name="status" id="filter-status" data-test="filter-status">
        {{#statusOptions}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/statusOptions}}
        </select>
        <select name="verdict" id="filter-verdict" data-test="filter-verdict">
        {{#verdictOptions}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/verdictOptions}}
        </select>
        <select name="mode" id="filter-mode" data-test="filter-mode">
        {{#modeOptions}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/modeOptions}}
        </select>
        <button type="submit" id="filter-apply" data-test="filter-apply">Filter</button>
        </form>
        <p class="summary" id="fleet-summary" data-test="fleet-summary">{{summary}}</p>
        <table id="fleet-table" data-test="fleet-table" data-live="/events/fleet" data-live-query="{{liveQuery}}">
        <thead><tr><th>Name</th><th>Status</th><th>Verdict</th><th>Downlink</th><th>RTT</th><th>Last seen</th><th>OS</th><th>Version</th><th>CPU</th><th>Memory</th><th>Disk</th></tr></thead>
        <tbody id="fleet-rows">
        {{#rows}}
        <tr id="agent-{{id}}" data-test="agent-row" data-agent="{{id}}" data-status="{{status}}">
        <td data-field="name"><a href="/agents/{{id}}" data-test="agent-link">{{name}}</a></td>
        <td data-field="status" class="status-{{status}}">{{status}}</td>
        <td data-field="verdict">{{verdict}}</td>
        <td data-field="mode">{{mode}}</td>
        <td data-field="rtt">{{rtt}}</td>
        <td data-field="lastSeen">{{lastSeen}}</td>
        <td data-field="os">{{os}}</td>
        <td data-field="version">{{version}}</td>
        <td data-field="cpu">{{cpu}}</td>
        <td data-field="memory">{{memory}}</td>
        <td data-field="disk">{{disk}}</td>
        </tr>
        {{/rows}}
        {{^rows}}<tr id="fleet-empty" data-test="fleet-empty"><td colspan="11">No agents match.</td></tr>{{/rows}}
        </tbody>
        </table>
        {{#next}}<p><a href="{{.}}" id="fleet-next" data-test="fleet-next">Next page</a></p>{{/next}}
        {{> footer}}
        """
}
