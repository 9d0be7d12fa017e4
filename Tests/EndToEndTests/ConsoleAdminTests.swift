import Foundation
import RMMAPI
import RMMProtocol
import RMMStore
import RMMTestSupport
import Testing

extension EndToEnd {
    /// The console's admin forms (tokens) and the agent page's script run, at the HTTP level.
    @Suite("End to end: console admin forms", .serialized)
    struct ConsoleAdminTests {
        @Test("an admin creates an API token and an enrollment token from the console; each secret is shown once, in the page only, and works; an enrollment token is revoked; a viewer or an operator cannot create, revoke or name sites")
        func createAndRevokeTokens() async throws {
            try await withFleet(agents: []) { server, _ in
                let http = ConsoleHTTP(port: server.apiPort)
                let cookie = try await ConsoleTests.login(http, token: server.token)
                let page = try await http.send("GET", "/tokens", cookie: cookie)
                #expect(page.body.contains("id=\"token-create-form\"") && page.body.contains("id=\"enrollment-create-form\""))
                let csrf = try #require(page.csrf)
                #expect(try await http.send("POST", "/tokens/new", cookie: cookie, form: [("name", "forged"), ("role", "admin")]).status == 403, "CSRF checked")

                let created = try await http.send("POST", "/tokens/new", cookie: cookie, form: [("csrf", csrf), ("name", "ci-bot"), ("role", "operator")])
                #expect(created.status == 200 && created.header("location") == nil, "the secret is in the answer's body, never a redirect's URL")
                let secret = try #require(Self.secret(in: created.body), "\(created.body.suffix(800))")
                #expect(secret.hasPrefix("grt_"))
                let asBot = TestAPI(base: server.api.base, token: secret)
                let (status, _) = try await asBot.raw("GET", "/api/v1/agents")
                #expect(status == 200, "the new token works with the API")
                let tokens: [APITokenView] = try await server.api.call("GET", "/api/v1/tokens")
                #expect(tokens.contains { $0.name == "ci-bot" && $0.role == "operator" && $0.token == nil })
                let again = try await http.send("GET", "/tokens", cookie: cookie)
                #expect(again.body.contains("ci-bot") && !again.body.contains(secret), "shown once: the list never shows it")

                let enrollment = try await http.send("POST", "/enrollment-tokens/new", cookie: cookie,
                                                     form: [("csrf", csrf), ("uses", "1"), ("expires_hours", "2")])
                #expect(enrollment.status == 200 && enrollment.body.contains("1 use, expires"))
                let enrollSecret = try #require(Self.secret(in: enrollment.body))
                let agent = try E2EAgent.start(name: "enrolled-by-console", server: server.agentURL, enrollToken: enrollSecret)
                do { try await server.api.waitOnline("enrolled-by-console") } catch {
                    await agent.stop()
                    throw error
                }
                await agent.stop()
                let bad = try await http.send("POST", "/enrollment-tokens/new", cookie: cookie, form: [("csrf", csrf), ("uses", "0")])
                #expect(bad.status == 400 && bad.body.contains("uses must be a whole number above 0"))

                let views: [EnrollmentTokenView] = try await server.api.call("GET", "/api/v1/enrollment-tokens")
                let spare = try #require(views.first { $0.usesLeft > 0 && !$0.revoked }, "the harness's own token")
                let listed = try await http.send("GET", "/tokens", cookie: cookie)
                #expect(listed.body.contains("action=\"/enrollment-tokens/\(spare.id)/revoke\""))
                let revoked = try await http.send("POST", "/enrollment-tokens/\(spare.id)/revoke", cookie: cookie, form: [("csrf", csrf)])
                #expect(revoked.status == 303)
                let after: [EnrollmentTokenView] = try await server.api.call("GET", "/api/v1/enrollment-tokens")
                #expect(after.first { $0.id == spare.id }?.revoked == true)

                let audit: [AuditEntry] = try await server.api.call("GET", "/api/v1/audit?limit=50")
                for action in ["tokens.create", "enrollment-tokens.create", "enrollment-tokens.revoke"] {
                    #expect(audit.contains { $0.action == action && $0.tokenId != nil }, "\(action) audited by token id")
                }
                #expect(!server.process.logContents().contains(secret) && !server.process.logContents().contains(enrollSecret), "never logged")

                let viewer: APITokenView = try await server.api.call("POST", "/api/v1/tokens", body: APITokenRequest(name: "look", role: "viewer"))
                let viewerCookie = try await ConsoleTests.login(http, token: try #require(viewer.token))
                let viewerPage = try await http.send("GET", "/", cookie: viewerCookie)
                let viewerCSRF = try #require(viewerPage.csrf)
                let refused = try await http.send("POST", "/tokens/new", cookie: viewerCookie, form: [("csrf", viewerCSRF), ("name", "mine"), ("role", "admin")])
                #expect(refused.status == 403 && refused.body.contains("admin role"))
                let refusedEnroll = try await http.send("POST", "/enrollment-tokens/new", cookie: viewerCookie, form: [("csrf", viewerCSRF)])
                #expect(refusedEnroll.status == 403)
                // An operator may run commands but not take these admin actions either.
                let operatorToken: APITokenView = try await server.api.call("POST", "/api/v1/tokens", body: APITokenRequest(name: "ops", role: "operator"))
                let operatorCookie = try await ConsoleTests.login(http, token: try #require(operatorToken.token))
                let operatorCSRF = try #require(try await http.send("GET", "/", cookie: operatorCookie).csrf)
                #expect(try await http.send("GET", "/tokens", cookie: operatorCookie).status == 403)
                for (path, form) in [("/tokens/new", [("name", "mine"), ("role", "admin")]), ("/enrollment-tokens/new", [("uses", "5")]),
                                     ("/enrollment-tokens/\(spare.id)/revoke", []), ("/sites/named", [("ranges", "Mine: 10.0.0.0/8")])] {
                    let answer = try await http.send("POST", path, cookie: operatorCookie, form: [("csrf", operatorCSRF)] + form)
                    #expect(answer.status == 403 && answer.body.contains("admin role"), "\(path): \(answer.status)")
                }
                let names: [APITokenView] = try await server.api.call("GET", "/api/v1/tokens")
                #expect(!names.contains { $0.name == "mine" })
                let enrollmentAfter: [EnrollmentTokenView] = try await server.api.call("GET", "/api/v1/enrollment-tokens")
                #expect(enrollmentAfter.count == after.count, "no enrollment token was made by the viewer or the operator")
                #expect(!(try await http.send("GET", "/sites", cookie: cookie).body.contains("Mine")), "nor a site named")
            }
        }

        @Test("the agent page runs a script with an allowed interpreter through the API's run path; an interpreter outside the config, and a timeout that is not a number in the API's bounds, get a 400 saying why and run nothing")
        func runScriptFromAgentPage() async throws {
            try await withFleet(agents: ["script-1"]) { server, _ in
                let http = ConsoleHTTP(port: server.apiPort)
                let agent = try #require(try await server.api.agent(named: "script-1"))
                let cookie = try await ConsoleTests.login(http, token: server.token)
                let page = try await http.send("GET", "/agents/\(agent.id)", cookie: cookie)
                #expect(page.body.contains("id=\"run-script\"") && page.body.contains("<option value=\"/bin/sh\" selected>"))
                let csrf = try #require(page.csrf)
                let refused = try await http.send("POST", "/agents/\(agent.id)/run", cookie: cookie,
                                                  form: [("csrf", csrf), ("script", "echo x"), ("interpreter", "/usr/bin/evil")])
                #expect(refused.status == 400 && refused.body.contains("interpreter /usr/bin/evil is not allowed"), "\(refused.body.suffix(600))")
                // A timeout that is not a number within the API's bounds is refused, saying so; nothing runs.
                for (timeout, reason) in [("abc", "the timeout &#39;abc&#39; is not a number of seconds"), ("NaN", "is not a number of seconds"),
                                          ("-5", "the timeout -5 is out of range"), ("1180591620717411303424", "out of range"),
                                          ("604801", "between 0.001 and 604800 seconds")] {
                    let answer = try await http.send("POST", "/agents/\(agent.id)/run", cookie: cookie, form: [("csrf", csrf), ("command", "echo x"), ("timeout", timeout)])
                    #expect(answer.status == 400 && answer.body.contains(reason), "\(timeout): \(answer.status) \(answer.body.suffix(600))")
                }
                let none: [CommandView] = try await server.api.call("GET", "/api/v1/commands?agent=\(agent.id)")
                #expect(none.isEmpty, "a refused form runs nothing")
                let both = try await http.send("POST", "/agents/\(agent.id)/run", cookie: cookie,
                                               form: [("csrf", csrf), ("command", "echo a"), ("script", "echo b")])
                #expect(both.status == 400 && both.body.contains("not both"))

                let ran = try await http.send("POST", "/agents/\(agent.id)/run", cookie: cookie,
                                              form: [("csrf", csrf), ("command", ""), ("script", "a=from-script\r\necho \"$a\"-$((20 + 22))\r\n"), ("interpreter", "/bin/sh")])
                #expect(ran.status == 303)
                let location = try #require(ran.header("location"))
                try await waitUntil("the script succeeded", timeout: .seconds(30)) {
                    try await http.send("GET", location, cookie: cookie).body.contains("1 succeeded")
                }
                #expect(try await http.send("GET", location, cookie: cookie).body.contains("from-script-42"))
                let commands: [CommandView] = try await server.api.call("GET", "/api/v1/commands?agent=\(agent.id)")
                #expect(commands.map(\.kind) == [.script] && commands.first?.interpreter == "/bin/sh")
                let audit: [AuditEntry] = try await server.api.call("GET", "/api/v1/audit?limit=20")
                #expect(audit.contains { $0.action == "commands.run" && $0.detail.contains("(console): script of") })
            }
        }

        /// The secret the token page shows once.
        static func secret(in body: String) -> String? {
            guard let start = body.range(of: "data-test=\"token-secret\">") else { return nil }
            let secret = body[start.upperBound...].prefix { $0 != "<" }
            return secret.isEmpty ? nil : String(secret)
        }
    }
}
