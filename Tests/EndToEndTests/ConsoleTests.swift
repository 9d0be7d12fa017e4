import Foundation
import RMMAPI
import RMMProtocol
import RMMServer
import RMMStore
import RMMTestSupport
import Testing

extension EndToEnd {
    /// The web console at the HTTP level, against the real `gururmm` binary: login and its cookie,
    /// CSRF, the login transport rule, security headers, escaping, and the fleet page's bounds.
    @Suite("End to end: web console", .serialized)
    struct ConsoleTests {
        static let csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
            + "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

        /// Logs in with `token`; the session cookie's value.
        static func login(_ http: ConsoleHTTP, token: String) async throws -> String {
            let answer = try await http.send("POST", "/login", form: [("token", token)])
            guard answer.status == 303, let cookie = answer.sessionCookie else { throw E2EError("login failed: \(answer.status) \(answer.body.prefix(500))") }
            return cookie
        }

        @Test("login sets an HttpOnly SameSite=Strict cookie; a bad token is refused; logout needs the CSRF token and ends the session")
        func loginCookieCSRFAndLogout() async throws {
            let server = try await E2EServer.start()
            do {
                let http = ConsoleHTTP(port: server.apiPort)
                let loginPage = try await http.send("GET", "/login")
                #expect(loginPage.status == 200 && loginPage.body.contains("id=\"login-form\""))
                #expect(loginPage.header("content-security-policy") == Self.csp)
                #expect(loginPage.header("x-content-type-options") == "nosniff" && loginPage.header("referrer-policy") == "no-referrer")
                #expect(!loginPage.body.contains("<script>") && !loginPage.body.contains("style="), "no inline script or style")
                #expect(try await http.send("GET", "/").header("location") == "/login", "no session: to the login page")

                let bad = try await http.send("POST", "/login", form: [("token", "grt_not-a-token")])
                #expect(bad.status == 401 && bad.sessionCookie == nil && bad.body.contains("login-error"))

                let good = try await http.send("POST", "/login", form: [("token", server.token)])
                #expect(good.status == 303 && good.header("location") == "/")
                let setCookie = try #require(good.header("set-cookie"))
                #expect(setCookie.contains("; Path=/") && setCookie.contains("; HttpOnly") && setCookie.contains("; SameSite=Strict"))
                #expect(setCookie.contains("; Max-Age=43200") && !setCookie.contains("Secure"), "\(setCookie): plain loopback, 12 h")
                let cookie = try #require(good.sessionCookie)

                let fleet = try await http.send("GET", "/", cookie: cookie)
                #expect(fleet.status == 200 && fleet.body.contains("id=\"fleet-table\""))
                #expect(fleet.header("cache-control") == "no-store" && fleet.header("content-security-policy") == Self.csp)
                let csrf = try #require(fleet.csrf)

                // The stylesheet and script: long-cached, revalidated by their content hash.
                let script = try await http.send("GET", "/static/console.js")
                #expect(script.status == 200 && script.header("cache-control")?.contains("max-age=31536000") == true)
                let etag = try #require(script.header("etag"))
                #expect(try await http.send("GET", "/static/console.js", headers: ["If-None-Match": etag]).status == 304)

                // Logout without or with a wrong CSRF token: 403, and the session lives on.
                let missing = try await http.send("POST", "/logout", cookie: cookie, form: [])
                let wrong = try await http.send("POST", "/logout", cookie: cookie, form: [("csrf", String(csrf.reversed()))])
                #expect(missing.status == 403 && wrong.status == 403 && wrong.body.contains("security token"))
                #expect(try await http.send("GET", "/", cookie: cookie).status == 200)

                let out = try await http.send("POST", "/logout", cookie: cookie, form: [("csrf", csrf)])
                #expect(out.status == 303 && out.header("location") == "/login" && out.header("set-cookie")?.contains("Max-Age=0") == true)
                #expect(try await http.send("GET", "/", cookie: cookie).header("location") == "/login", "the session is gone")
                let audit: [AuditEntry] = try await server.api.call("GET", "/api/v1/audit?limit=10")
                #expect(audit.contains { $0.action == "console.login" && $0.tokenId != nil } && audit.contains { $0.action == "console.logout" })
            } catch {
                Issue.record("\(error)")
            }
            await server.stop()
        }

        @Test("behind a trusted proxy, a login the browser sent over plain http from another host is refused; over https the cookie is Secure")
        func plainHTTPLoginRefused() async throws {
            // The test cannot bind a non-loopback address, so the browser's remote, plain-http
            // connection is what a trusted proxy reports: X-Forwarded-For and X-Forwarded-Proto.
            let server = try await E2EServer.start(["--trusted-proxy", "127.0.0.1/32"])
            do {
                let http = ConsoleHTTP(port: server.apiPort)
                let remote = ["X-Forwarded-For": "203.0.113.9"]
                let page = try await http.send("GET", "/login", headers: remote.merging(["X-Forwarded-Proto": "http"]) { $1 })
                #expect(page.body.contains("id=\"login-refused\"") && !page.body.contains("id=\"login-form\""))
                for proto in ["http", nil] as [String?] {
                    let headers = proto.map { remote.merging(["X-Forwarded-Proto": $0]) { $1 } } ?? remote
                    let refused = try await http.send("POST", "/login", form: [("token", server.token)], headers: headers)
                    #expect(refused.status == 403 && refused.sessionCookie == nil, "X-Forwarded-Proto \(proto ?? "absent")")
                    #expect(refused.body.contains("X-Forwarded-Proto"), "says how to fix it")
                }
                let secure = try await http.send("POST", "/login", form: [("token", server.token)], headers: remote.merging(["X-Forwarded-Proto": "https"]) { $1 })
                #expect(secure.status == 303 && secure.header("set-cookie")?.contains("; Secure") == true)
            } catch {
                Issue.record("\(error)")
            }
            await server.stop()
        }

        @Test("10,000 agents: the fleet page's first page is 100 rows in bounded size, a hostile name is escaped, and the CSP is set; the sites page groups them all against 992 named ranges")
        func fleetPageAtScaleEscapesNames() async throws {
            let count = 10_000
            let hostile = "<script>alert(1)</script>"
            let server = try await E2EServer.start()
            do {
                await server.stop()
                let store = try SQLiteStore(path: server.dataDirectory + "/gururmm.sqlite")
                _ = try await store.createEnrollmentToken(hash: "bulk", expiresAt: nil, uses: count, now: Date())
                for index in 0..<count {
                    let name = index == 0 ? hostile : String(format: "fleet-%05d", index)
                    let agent = try await store.enrollAgent(tokenHash: "bulk", publicKey: "key-\(index)",
                                                            facts: AgentFacts(name: name, hostname: name, os: "linux", version: "1"), now: Date())
                    _ = try await store.recordConnect(agentId: agent.id, facts: AgentFacts(name: name, hostname: name, os: "linux", version: "1"),
                                                      remote: "198.51.\(index % 200).\(index % 250):4000", now: Date())
                }
                // The most ranges an admin may name, none holding these agents: the sites page's worst case.
                let named = (0..<16).map { site in
                    "{\"name\":\"S\(site)\",\"ranges\":[" + (0..<62).map { "\"10.\(site).\($0).0/24\"" }.joined(separator: ",") + "]}"
                }
                try await store.saveSetting("console_named_sites", value: "{\"sites\":[\(named.joined(separator: ","))]}", audit: nil)
                try await server.restartOnSamePorts()
                let http = ConsoleHTTP(port: server.apiPort)
                let cookie = try await Self.login(http, token: server.token)
                let started = ContinuousClock.now
                let page = try await http.send("GET", "/", cookie: cookie)
                let took = ContinuousClock.now - started
                #expect(page.status == 200 && page.header("content-security-policy") == Self.csp)
                #expect(page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "the hostile name, escaped")
                #expect(!page.body.contains(hostile))
                let rows = page.body.components(separatedBy: "data-test=\"agent-row\"").count - 1
                #expect(rows == 100)
                #expect(page.body.utf8.count < 128 << 10, "\(page.body.utf8.count) bytes")
                #expect(page.body.contains("id=\"fleet-next\""))
                // A name search starts where the prefix does in the name order: it finds the last agents too.
                let found = try await http.send("GET", "/?q=fleet-0999", cookie: cookie)
                let foundRows = found.body.components(separatedBy: "data-test=\"agent-row\"").dropFirst()
                #expect(foundRows.count == 10 && foundRows.allSatisfy { $0.contains(">fleet-0999") } && !found.body.contains("id=\"fleet-next\""))
                let online = try await http.send("GET", "/?status=online", cookie: cookie)
                #expect(online.body.contains("id=\"fleet-empty\"") && online.body.contains("id=\"fleet-next\""), "no agent is online: a bounded scan, then a link on")
                print("console fleet page: \(page.body.utf8.count) bytes, \(rows) rows of \(count) agents in \(took)")
                let sitesStarted = ContinuousClock.now
                let sites = try await http.send("GET", "/sites", cookie: cookie)
                let sitesTook = ContinuousClock.now - sitesStarted
                #expect(sites.status == 200 && sites.body.contains("data-network=\"198.51.0.0/24\"") && sites.body.contains("Only the first 10000 agents"))
                #expect(sites.body.components(separatedBy: "data-test=\"site\"").count - 1 == 200, "200 sites of 50 agents")
                print("console sites page: \(sites.body.utf8.count) bytes, \(count) agents against 992 named ranges in \(sitesTook)")
            } catch {
                Issue.record("\(error)")
            }
            await server.stop()
        }

        @Test("a session lives in the shared store: a login on one node works on another, and revoking its token on one node ends it on the other")
        func revocationEndsSessionOnEveryNode() async throws {
            let postgres = try await PostgresTestServer.shared()
            let url = try await postgres.createDatabase(prefix: "console")
            let first = try await E2EServer.start(["--store", url, "--node-name", "n1"])
            var second: ManagedProcess?
            do {
                let state = try freeTemporaryDirectory(prefix: "gururmm-console")
                let joined = try await JoinedNode.start(joining: first, store: url, name: "n2", state: state)
                second = joined.process
                let created: APITokenView = try await first.api.call("POST", "/api/v1/tokens", body: APITokenRequest(name: "watcher", role: "viewer"))
                let secret = try #require(created.token)
                let node1 = ConsoleHTTP(port: first.apiPort)
                let node2Port = try #require(URL(string: joined.api.base)?.port)
                let node2 = ConsoleHTTP(port: node2Port)
                let cookie = try await Self.login(node1, token: secret)
                let page = try await node2.send("GET", "/", cookie: cookie)
                #expect(page.status == 200 && page.body.contains("watcher (viewer)"), "the other node accepts the session")

                let (status, _) = try await first.api.raw("DELETE", "/api/v1/tokens/\(created.id)")
                #expect(status == 200)
                let after = try await node2.send("GET", "/", cookie: cookie)
                #expect(after.status == 303 && after.header("location") == "/login", "ended on the other node at its next request")
                let post = try await node2.send("POST", "/logout", cookie: cookie, form: [("csrf", page.csrf ?? "")])
                #expect(post.status == 401)
            } catch {
                Issue.record("\(error)\n---- node 2 log (tail) ----\n\(second?.logExcerpt(tail: 4000) ?? "")")
            }
            _ = try? await second?.terminateAndWait(grace: .seconds(5))
            await first.stop()
        }

        @Test("the fleet stream sends an agent's status change without a reload, and a session holds at most four streams")
        func liveStatusChange() async throws {
            try await withFleet(agents: ["live-1"]) { server, agents in
                let http = ConsoleHTTP(port: server.apiPort)
                let cookie = try await Self.login(http, token: server.token)
                let agent = try #require(try await server.api.agent(named: "live-1"))
                let request = "GET /events/fleet?ids=\(agent.id) HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: gururmm_session=\(cookie)\r\n\r\n"
                var streams: [RawTCPClient] = []
                for _ in 0..<4 {
                    let stream = try await RawTCPClient.connect(host: "127.0.0.1", port: server.apiPort, from: "127.0.0.1")
                    try await stream.send(request)
                    try await waitUntil("the stream opened", timeout: .seconds(20)) { stream.received.contains("retry: 5000") }
                    streams.append(stream)
                }
                #expect(streams[0].received.contains("text/event-stream"))
                let fifth = try await http.send("GET", "/events/fleet?ids=\(agent.id)", cookie: cookie)
                #expect(fifth.status == 429)
                try await agents[0].kill()
                let watched = streams[0]
                try await waitUntil("the stream says live-1 went offline", timeout: .seconds(30)) {
                    watched.received.contains("event: agent") && watched.received.contains("\"status\":\"offline\"")
                }
                for stream in streams { await stream.close() }
                // Closed streams give their slots back.
                let port = server.apiPort
                try await waitUntil("a slot is free again", timeout: .seconds(30)) {
                    let probe = try await RawTCPClient.connect(host: "127.0.0.1", port: port, from: "127.0.0.1")
                    try await probe.send(request)
                    try await waitUntil("answered", timeout: .seconds(10)) { !probe.received.isEmpty }
                    let opened = probe.received.hasPrefix("HTTP/1.1 200")
                    await probe.close()
                    return opened
                }
            }
        }

        @Test("the agent page runs a command for an operator (CSRF checked, audited) and lands on its batch page; a viewer is refused as by the API")
        func runFromAgentPage() async throws {
            try await withFleet(agents: ["run-1"]) { server, _ in
                let http = ConsoleHTTP(port: server.apiPort)
                let agent = try #require(try await server.api.agent(named: "run-1"))
                let viewer: APITokenView = try await server.api.call("POST", "/api/v1/tokens", body: APITokenRequest(name: "look", role: "viewer"))
                let viewerCookie = try await Self.login(http, token: try #require(viewer.token))
                let viewerPage = try await http.send("GET", "/agents/\(agent.id)", cookie: viewerCookie)
                #expect(viewerPage.status == 200 && viewerPage.body.contains("id=\"agent-facts\"") && !viewerPage.body.contains("id=\"run-form\""))
                let refused = try await http.send("POST", "/agents/\(agent.id)/run", cookie: viewerCookie,
                                                  form: [("csrf", try #require(viewerPage.csrf)), ("command", "echo viewer")])
                #expect(refused.status == 403 && refused.body.contains("operator role"), "\(refused.body.prefix(400))")

                let cookie = try await Self.login(http, token: server.token)
                let page = try await http.send("GET", "/agents/\(agent.id)", cookie: cookie)
                #expect(page.body.contains("id=\"run-form\""))
                let noCSRF = try await http.send("POST", "/agents/\(agent.id)/run", cookie: cookie, form: [("command", "echo forged")])
                #expect(noCSRF.status == 403)
                let ran = try await http.send("POST", "/agents/\(agent.id)/run", cookie: cookie,
                                              form: [("csrf", try #require(page.csrf)), ("command", "echo '<b>hi</b>'")])
                #expect(ran.status == 303)
                let location = try #require(ran.header("location"))
                #expect(location.hasPrefix("/batches/"))
                try await waitUntil("the batch page shows the command succeeded", timeout: .seconds(30)) {
                    try await http.send("GET", location, cookie: cookie).body.contains("1 succeeded")
                }
                // The batch's stream from the start: the command's state, its output, and the summary.
                let batchId = String(location.dropFirst("/batches/".count))
                let stream = try await RawTCPClient.connect(host: "127.0.0.1", port: server.apiPort, from: "127.0.0.1")
                try await stream.send("GET /events/batches/\(batchId)?after=0 HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: gururmm_session=\(cookie)\r\n\r\n")
                try await waitUntil("the batch stream ends with its summary", timeout: .seconds(30)) { stream.received.contains("event: summary") }
                #expect(stream.received.contains("event: output") && stream.received.contains("\"state\":\"succeeded\"")
                        && stream.received.contains("1 succeeded"))
                await stream.close()
                let batch = try await http.send("GET", location, cookie: cookie)
                #expect(batch.body.contains("&lt;b&gt;hi&lt;/b&gt;") && !batch.body.contains("<b>hi</b>"), "output escaped")
                let commands: [CommandView] = try await server.api.call("GET", "/api/v1/commands?agent=\(agent.id)")
                #expect(commands.map(\.text) == ["echo '<b>hi</b>'"], "neither the viewer's nor the forged command ran")
                let audit: [AuditEntry] = try await server.api.call("GET", "/api/v1/audit?limit=20")
                #expect(audit.contains { $0.action == "commands.run" && $0.detail.contains("(console)") && $0.tokenId != nil })

                // The other pages render for the admin; the tokens page is refused to a viewer by the API's rule.
                let listed = try await http.send("GET", "/commands?agent=run-1&state=succeeded", cookie: cookie)
                #expect(listed.status == 200 && listed.body.components(separatedBy: "data-test=\"command-row\"").count == 2)
                #expect(try await http.send("GET", "/audit", cookie: cookie).body.contains("console.login"))
                let sites = try await http.send("GET", "/sites", cookie: cookie)
                #expect(sites.body.contains("data-network=\"127.0.0.0/24\"") && sites.body.contains("behind 127.0.0.1"), "\(sites.body.suffix(800))")
                #expect(try await http.send("GET", "/tokens", cookie: viewerCookie).status == 403)
                let tokens = try await http.send("GET", "/tokens", cookie: cookie)
                #expect(tokens.status == 200 && tokens.body.contains("data-token=\"\(viewer.id)\""))
                let revoked = try await http.send("POST", "/tokens/\(viewer.id)/revoke", cookie: cookie, form: [("csrf", try #require(tokens.csrf))])
                #expect(revoked.status == 303)
                #expect(try await http.send("GET", "/", cookie: viewerCookie).header("location") == "/login", "the revoked token's session ended")
            }
        }
    }
}
