/// The agent and batch pages' templates (see `ConsoleTemplates` for the rules they follow).
enum ConsoleAgentTemplates {
    static let agent = """
        {{> header}}
        {{#agent}}
        <h1 id="agent-name" data-test="agent-name">{{name}}</h1>
        <table id="agent-facts" data-test="agent-facts">
        <tr><th>Id</th><td data-field="id">{{id}}</td></tr>
        <tr><th>Status</th><td data-field="status" class="status-{{status}}">{{status}}</td></tr>
        <tr><th>Host</th><td data-field="hostname">{{hostname}}</td></tr>
        <tr><th>OS</th><td data-field="os">{{os}}</td></tr>
        <tr><th>Version</th><td data-field="version">{{version}}</td></tr>
        <tr><th>Address</th><td data-field="remote">{{remote}}</td></tr>
        <tr><th>Last seen</th><td data-field="lastSeen">{{lastSeen}}</td></tr>
        <tr><th>Downlink</th><td data-field="downlink">{{downlink}}</td></tr>
        <tr><th>Pong RTT</th><td data-field="rtt">{{rtt}}</td></tr>
        <tr><th>CPU / memory / disk</th><td data-field="metrics">{{metrics}}</td></tr>
        </table>
        <h2>CPU, memory and disk</h2>
        <p><img id="metric-chart-day" data-test="metric-chart-day" class="metric-chart" src="/agents/{{id}}/metrics.svg?range=day" width="760" height="200" alt="CPU, memory and disk use over the last 24 hours, 1-minute points"></p>
        <p><img id="metric-chart-month" data-test="metric-chart-month" class="metric-chart" src="/agents/{{id}}/metrics.svg?range=month" width="760" height="200" alt="CPU, memory and disk use over the last 30 days, 15-minute points"></p>
        {{/agent}}
        <h2>Link</h2>
        {{#diagnosis}}<p id="agent-diagnosis" data-test="agent-diagnosis"><strong>{{verdict}}</strong>: {{summary}} ({{at}})</p>{{/diagnosis}}
        {{^diagnosis}}<p id="agent-diagnosis" data-test="agent-diagnosis">No link diagnosis yet.</p>{{/diagnosis}}
        <h2>Verdict history</h2>
        <table id="agent-verdicts" data-test="agent-verdicts">
        <thead><tr><th>Verdict</th><th>What</th><th>Source</th><th>First</th><th>Last</th><th>Times</th></tr></thead>
        <tbody>
        {{#verdicts}}<tr data-test="verdict-row"><td>{{verdict}}</td><td>{{headline}}: {{summary}}</td><td>{{source}} / {{stage}}</td><td>{{first}}</td><td>{{last}}</td><td>{{count}}</td></tr>{{/verdicts}}
        {{^verdicts}}<tr><td colspan="6">None.</td></tr>{{/verdicts}}
        </tbody>
        </table>
        {{#canRun}}
        <h2>Run a command</h2>
        <form method="post" action="/agents/{{agent.id}}/run" id="run-form" data-test="run-form">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <input type="text" name="command" id="run-command" data-test="run-command" size="60" placeholder="shell command">
        <p class="hint">or a script, run with the interpreter chosen (one of the config's allowed interpreters):</p>
        <textarea name="script" id="run-script" data-test="run-script" rows="6" cols="70" placeholder="script"></textarea>
        <select name="interpreter" id="run-interpreter" data-test="run-interpreter">
        {{#interpreters}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/interpreters}}
        </select>
        <label for="run-timeout">timeout (s)</label>
        <input type="number" name="timeout" id="run-timeout" data-test="run-timeout" value="60" min="0.001" max="604800" step="any">
        <button type="submit" id="run-submit" data-test="run-submit">Run</button>
        </form>
        {{/canRun}}
        <h2>Commands</h2>
        <table id="agent-commands" data-test="agent-commands">
        <thead><tr><th>Command</th><th>State</th><th>Exit</th><th>Reason</th><th>By</th><th>Created</th></tr></thead>
        <tbody>
        {{#commands}}<tr data-test="command-row" data-command="{{id}}"><td><a href="/batches/{{batchId}}">{{text}}</a></td><td>{{state}}</td><td>{{exit}}</td><td>{{reason}}</td><td>{{by}}</td><td>{{created}}</td></tr>{{/commands}}
        {{^commands}}<tr><td colspan="6">None.</td></tr>{{/commands}}
        </tbody>
        </table>
        {{> footer}}
        """

    static let batch = """
        {{> header}}
        <h1 id="batch-title" data-test="batch-title">Batch {{batchId}}</h1>
        <p id="batch-summary" data-test="batch-summary" data-done="{{done}}">{{summary}}</p>
        <table id="batch-commands" data-test="batch-commands" data-live="{{live}}">
        <thead><tr><th>Agent</th><th>State</th><th>Exit</th><th>Reason</th><th>Output</th></tr></thead>
        <tbody>
        {{#commands}}
        <tr id="command-{{id}}" data-test="batch-row" data-command="{{id}}" data-state="{{state}}">
        <td data-field="agent"><a href="/agents/{{agentId}}">{{agent}}</a></td>
        <td data-field="state">{{state}}</td>
        <td data-field="exit">{{exit}}</td>
        <td data-field="reason">{{reason}}</td>
        <td><pre data-field="stdout" data-test="command-stdout" data-bytes="{{stdoutBytes}}">{{stdout}}</pre><pre data-field="stderr" data-test="command-stderr" data-bytes="{{stderrBytes}}">{{stderr}}</pre></td>
        </tr>
        {{/commands}}
        </tbody>
        </table>
        {{> footer}}
        """
}
