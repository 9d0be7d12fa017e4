/// The tokens page's templates (see `ConsoleTemplates` for the rules they follow).
enum ConsoleTokenTemplates {
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
        <form method="post" action="/tokens/new" id="token-create-form" data-test="token-create-form" class="filters">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <input type="text" name="name" placeholder="name" maxlength="64" required data-test="token-create-name">
        <select name="role" data-test="token-create-role">
        {{#roles}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/roles}}
        </select>
        <button type="submit" data-test="token-create">Create API token</button>
        </form>
        <h1>Enrollment tokens</h1>
        <table id="enrollment-table" data-test="enrollment-table">
        <thead><tr><th>Id</th><th>Created</th><th>Expires</th><th>Uses left</th><th>Revoked</th><th></th></tr></thead>
        <tbody>
        {{#enrollment}}<tr data-test="enrollment-row" data-token="{{id}}"><td>{{id}}</td><td>{{created}}</td><td>{{expires}}</td><td>{{uses}}</td><td>{{revoked}}</td>
        <td>{{#live}}<form method="post" action="/enrollment-tokens/{{id}}/revoke" class="inline" data-test="enrollment-revoke-form"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit" data-test="enrollment-revoke">Revoke</button></form>{{/live}}</td></tr>{{/enrollment}}
        </tbody>
        </table>
        <form method="post" action="/enrollment-tokens/new" id="enrollment-create-form" data-test="enrollment-create-form" class="filters">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <label>Uses <input type="number" name="uses" value="1" min="1" max="100000" data-test="enrollment-create-uses"></label>
        <label>Expires in (hours) <input type="number" name="expires_hours" value="{{expiresHours}}" min="1" max="8760" data-test="enrollment-create-expires"></label>
        <button type="submit" data-test="enrollment-create">Create enrollment token</button>
        </form>
        {{> footer}}
        """

    /// A new token's secret, shown this once (the answer to the create form, never a redirect).
    static let created = """
        {{> header}}
        <h1>New {{kind}} {{id}}</h1>
        <p>Copy the secret now: it is shown only this once, and the server keeps only its hash.</p>
        <p><code id="token-secret" data-test="token-secret">{{secret}}</code></p>
        <p data-test="token-created-what">{{what}}</p>
        <p><a href="/tokens" data-test="token-created-back">Back to tokens</a></p>
        {{> footer}}
        """
}
