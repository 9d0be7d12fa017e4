import Foundation
import RMMAPI
import RMMTestSupport
import Testing

extension EndToEnd {
    /// The web console as an operator meets it: headless Chromium over WebDriver against the real
    /// `gururmm` binary. Screenshots of every step go to `.build/test-artifacts/console-browser/`.
    @Suite("End to end: web console in Chromium", .serialized)
    struct ConsoleBrowserTests {
        static let hostileName = "<script>alert(1)</script>"

        @Test("log in, see agents appear live (a hostile name as inert text), see an agent's charts load, run a command and watch its output, and be thrown out when the token is revoked")
        func operatorsDay() async throws {
            let server = try await E2EServer.start()
            var agents: [E2EAgent] = []
            do {
                let created: APITokenView = try await server.api.call("POST", "/api/v1/tokens", body: APITokenRequest(name: "browser operator", role: "operator"))
                let secret = try #require(created.token)
                let base = "http://127.0.0.1:\(server.apiPort)"
                try await Browser.with(suite: "console-browser") { browser in
                    // 1. The console sends a browser without a session to the login page.
                    try await browser.open(base + "/")
                    _ = try await browser.waitForElement("#login-form")
                    try await browser.screenshot("01-login")

                    // 2. Log in with the operator token: the fleet page, its live stream open.
                    try await browser.fill("[data-test='login-token']", with: secret)
                    try await browser.click("[data-test='login-submit']")
                    _ = try await browser.waitForElement("#fleet-table")
                    try await browser.waitUntil("the fleet page's live stream is open") {
                        try await !browser.findAll("body[data-live='open']").isEmpty
                    }
                    #expect(try await browser.text("[data-test='operator-name']").contains("browser operator"))
                    let cookie = try #require(try await browser.cookies().first { $0.name == "gururmm_session" })
                    #expect(cookie.httpOnly && cookie.sameSite == "Strict")
                    try await browser.screenshot("02-fleet-empty")

                    // 3. Agents enroll while the page is open: their rows appear without a reload
                    // (a marker set on this page's window must still be there), the hostile name
                    // as plain text. An alert would make every later WebDriver command fail.
                    _ = try await browser.execute("window.gururmmNoReload = 'still here'; return true;")
                    let enroll = try await server.api.enrollToken()
                    agents.append(try E2EAgent.start(name: "browser-one", server: server.agentURL, enrollToken: enroll))
                    agents.append(try E2EAgent.start(name: Self.hostileName, server: server.agentURL, enrollToken: enroll))
                    try await browser.waitUntil("both agents' rows appear, online, without a reload", timeout: .seconds(60)) {
                        try await browser.findAll("[data-test='agent-row'][data-status='online']").count == 2
                    }
                    #expect(try await browser.execute("return window.gururmmNoReload;").string == "still here", "the page was not reloaded")
                    try await browser.waitForText("#fleet-summary", containing: "2 enrolled: 2 online", timeout: .seconds(30))
                    let names = try await browser.findAll("[data-test='agent-link']")
                    var shown: [String] = []
                    for name in names { shown.append(try await name.text()) }
                    #expect(shown.contains(Self.hostileName), "the hostile name is shown as its text: \(shown)")
                    #expect(try await browser.findAll("#fleet-rows script").isEmpty, "no script element was made from agent data")
                    try await browser.screenshot("03-agents-appeared-live")

                    // 4. The agent page's form runs a command; its batch page shows the output as it arrives.
                    let agent = try #require(try await server.api.agent(named: "browser-one"))
                    try await browser.click("#agent-\(agent.id) [data-test='agent-link']")
                    _ = try await browser.waitForElement("#run-form")

                    // 4a. The agent page's charts: once a heartbeat brought the agent's metrics,
                    // both SVG images load under the CSP, the day chart with the agent's lines.
                    let dayChart = "/agents/\(agent.id)/metrics.svg?range=day"
                    try await browser.waitUntil("the day chart holds the agent's metrics", timeout: .seconds(60)) {
                        let svg = try await browser.execute("return fetch(arguments[0]).then(r => r.text());", [.string(dayChart)])
                        return svg.string?.contains("data-series=\"memory\"") == true
                    }
                    try await browser.open(base + "/agents/\(agent.id)")
                    _ = try await browser.waitForElement("#run-form")
                    try await browser.waitUntil("both chart images loaded") {
                        let loaded = try await browser.execute("""
                            return ['metric-chart-day', 'metric-chart-month'].map(id => document.getElementById(id))
                                .every(image => image && image.complete && image.naturalWidth > 0);
                            """)
                        return loaded.bool == true
                    }
                    _ = try await browser.execute("document.getElementById('metric-chart-day').scrollIntoView(); return true;")
                    try await browser.screenshot("04a-agent-page-charts")

                    try await browser.fill("#run-command", with: "echo first-from-browser; sleep 2; echo second-from-browser")
                    try await browser.screenshot("04-agent-page-run-form")
                    try await browser.click("#run-submit")
                    _ = try await browser.waitForElement("#batch-summary")
                    try await browser.waitForText("[data-test='command-stdout']", containing: "first-from-browser", timeout: .seconds(30))
                    try await browser.screenshot("05-batch-output-arriving")
                    try await browser.waitUntil("the batch's summary says it is done", timeout: .seconds(30)) {
                        try await browser.find("#batch-summary").attribute("data-done") == "true"
                    }
                    #expect(try await browser.text("[data-test='command-stdout']").contains("second-from-browser"))
                    #expect(try await browser.text("#batch-summary").contains("1 succeeded"))
                    try await browser.screenshot("06-batch-done")

                    // 5. Back on the fleet page, the admin revokes this operator's token with the
                    // CLI: the page's live stream ends and the browser lands on the login page.
                    try await browser.click("[data-test='nav-fleet']")
                    try await browser.waitUntil("the fleet page's live stream is open again") {
                        try await !browser.findAll("body[data-live='open']").isEmpty
                    }
                    let revoked = try await server.cli(["tokens", "revoke", created.id])
                    #expect(revoked.code == 0, "\(revoked.output)")
                    try await browser.waitUntil("the revoked operator is sent to the login page", timeout: .seconds(30)) {
                        try await !browser.findAll("#login-form").isEmpty
                    }
                    try await browser.screenshot("07-thrown-out-after-revoke")
                    try await browser.open(base + "/")
                    _ = try await browser.waitForElement("#login-form")

                    // The browser's own request for /favicon.ico (the console has none) is not the pages'.
                    let errors = try await browser.consoleLog().filter { $0.level == "SEVERE" && !$0.message.contains("favicon.ico") }
                    #expect(errors.isEmpty, "the pages ran without errors or CSP violations: \(errors)")
                }
            } catch {
                Issue.record("\(error)\n\(server.process.logContents().suffix(3000))")
            }
            for agent in agents { await agent.stop() }
            await server.stop()
        }
    }
}
