/// The commands, tokens and audit pages' templates (see `ConsoleTemplates` for the rules they follow).
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

    static let tokens = """
        {{> header}}
        <h1>API tokens</h1>
        <table id="tokens-table" data-test="tokens-table">
        <thead><tr><th>Id</th><th>Name</th><th>Role</th><th>Created</th><th>Revoked</th><th></th></tr></thead>
        <tbody>
        {{#tokens}}<tr data-test="token-row" data-token="{{id}}"><td>{{id}}</td><td>{{name}}</td><td>{{role}}</td><td>{{created}}</td><td>{{revoked}}</td>
        <td>{{#live}}<form method="post" action="/tokens/{{id}}/revoke" class="inline" data-test="token-revoke-form"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit" data-test="token-revoke">Revoke</button></form>{{/live}}</td></tr>{{/tokens}}
        </tbody>
        </table>
        <h1>Enrollment tokens</h1>
        <table id="enrollment-table" data-test="enrollment-table">
        <thead><tr><th>Id</th><th>Created</th><th>Expires</th><th>Uses left</th><th>Revoked</th></tr></thead>
        <tbody>
        {{#enrollment}}<tr data-test="enrollment-row" data-token="{{id}}"><td>{{id}}</td><td>{{created}}</td><td>{{expires}}</td><td>{{uses}}</td><td>{{revoked}}</td></tr>{{/enrollment}}
        </tbody>
        </table>
        {{> footer}}
        """

    static let sites = """
        {{> header}}
        <h1>Sites</h1>
        <p class="hint" id="sites-note" data-test="sites-note">{{note}}</p>
        {{#sites}}
        <section class="site" data-test="site" data-network="{{network}}">
        <h2 data-test="site-network">{{network}} ({{count}})</h2>
        <p data-test="site-sentence">{{sentence}}</p>
        <p>{{#agents}}<a href="/agents/{{id}}" data-test="site-agent">{{name}}</a> {{/agents}}{{more}}</p>
        </section>
        {{/sites}}
        {{^sites}}<p id="sites-empty" data-test="sites-empty">No connected agents.</p>{{/sites}}
        {{> footer}}
        """
}
