/// The commands, audit and sites pages' templates (see `ConsoleTemplates` for the rules they follow).
enum ConsoleAdminTemplates {
    static let commands = """
        {{> header}}
        <h1>Commands</h1>
        <form method="get" action="/commands" id="commands-filter" data-test="commands-filter" class="filters">
        <input type="text" name="agent" value="{{agent}}" placeholder="agent id or name" id="commands-agent" data-test="commands-agent">
        <select name="state" id="commands-state" data-test="commands-state">
        {{#stateOptions}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/stateOptions}}
        </select>
        <button type="submit" id="commands-apply" data-test="commands-apply">Filter</button>
        </form>
        <table id="commands-table" data-test="commands-table">
        <thead><tr><th>Agent</th><th>Command</th><th>State</th><th>Exit</th><th>Reason</th><th>By</th><th>Created</th></tr></thead>
        <tbody>
        {{#commands}}<tr data-test="command-row" data-command="{{id}}" data-state="{{state}}"><td><a href="/agents/{{agentId}}">{{agent}}</a></td><td><a href="/batches/{{batchId}}">{{text}}</a></td><td>{{state}}</td><td>{{exit}}</td><td>{{reason}}</td><td>{{by}}</td><td>{{created}}</td></tr>{{/commands}}
        {{^commands}}<tr id="commands-empty" data-test="commands-empty"><td colspan="7">No commands match.</td></tr>{{/commands}}
        </tbody>
        </table>
        {{> footer}}
        """

    static let audit = """
        {{> header}}
        <h1>Audit log</h1>
        <table id="audit-table" data-test="audit-table">
        <thead><tr><th>When</th><th>Who</th><th>Token</th><th>Role</th><th>Action</th><th>Targets</th><th>Detail</th><th>From</th></tr></thead>
        <tbody>
        {{#entries}}<tr data-test="audit-row"><td>{{at}}</td><td>{{actor}}</td><td>{{tokenId}}</td><td>{{role}}</td><td>{{action}}</td><td>{{targets}}</td><td>{{detail}}</td><td>{{remote}}</td></tr>{{/entries}}
        </tbody>
        </table>
        {{> footer}}
        """

    static let sites = """
        {{> header}}
        <h1>Sites</h1>
        <p class="hint" id="sites-note" data-test="sites-note">{{note}}</p>
        {{#sites}}
        <section class="site" data-test="site" data-network="{{network}}"{{#named}} data-named="true"{{/named}}>
        <h2 data-test="site-network">{{network}} ({{count}})</h2>
        <p data-test="site-sentence">{{sentence}}</p>
        <p>{{#agents}}<a href="/agents/{{id}}" data-test="site-agent">{{name}}</a> {{/agents}}{{more}}</p>
        </section>
        {{/sites}}
        {{^sites}}<p id="sites-empty" data-test="sites-empty">No agent has connected yet.</p>{{/sites}}
        {{#edit}}
        <h2>Named sites</h2>
        <form method="post" action="/sites/named" id="named-sites-form" data-test="named-sites-form">
        <input type="hidden" name="csrf" value="{{csrf}}">
        {{#hasError}}<p class="error" id="named-sites-error" data-test="named-sites-error">{{error}}</p>{{/hasError}}
        <p class="hint">One site a line: <code>Main office: 203.0.113.0/24, 2001:db8:1::/48</code>. An agent whose address is in a named range is in that site (the most specific range wins); the others are grouped by their /24 or /64.</p>
        <textarea name="ranges" rows="6" cols="70" data-test="named-sites-ranges">{{ranges}}</textarea>
        <button type="submit" data-test="named-sites-save">Save named sites</button>
        </form>
        {{/edit}}
        {{> footer}}
        """
}
