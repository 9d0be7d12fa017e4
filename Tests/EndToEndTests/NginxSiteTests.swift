import Crypto
import Foundation
import RMMAPI
import RMMProtocol
import RMMTestSupport
import RMMTransport
import Testing

extension EndToEnd {
    /// `deploy/nginx/gururmm.conf` in front of a real server: TLS at nginx from a test CA the
    /// agents and the CLI trust through `SSL_CERT_FILE`, agents on the WebSocket and on the
    /// long-poll downlink, an idle longer than nginx's read timeout, then commands through the API port.
    @Suite("End to end: behind the nginx site in deploy/", .serialized)
    struct NginxSiteTests {
        /// The rendered read and send timeout of the WebSocket and API locations (300 s in the
        /// site). Shorter so that the idle outlasting it takes seconds: the agent config below
        /// keeps the same relation the site's comment asks for (heartbeat deadline and ping
        /// interval under the timeout).
        static let renderedTimeout = 8

        static func tool(_ names: [String], install: String) throws -> String {
            if let found = names.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) { return found }
            let why = "needs \(names.first ?? "") (apt-get install \(install))"
            if ProcessInfo.processInfo.environment["GURURMM_REQUIRE_TOOLS"] == "1" { throw E2EError("GURURMM_REQUIRE_TOOLS=1: " + why) }
            try Test.cancel(Comment(rawValue: why))
        }

        static var repository: URL {
            URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        }

        /// Runs `executable` to completion; throws with its output when it fails.
        @discardableResult
        static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:], log: String) async throws -> String {
            let process = try ManagedProcess.start(executable, arguments: arguments, environment: environment, logPath: log)
            let code = try await process.waitForExit(timeout: .seconds(60))
            guard code == 0 else { throw E2EError("\(executable) \(arguments.joined(separator: " ")) exited \(code):\n\(process.logContents())") }
            return process.logContents()
        }

        /// A test CA and a certificate it signed for localhost and 127.0.0.1.
        static func makeCertificates(openssl: String, in directory: String) async throws -> (ca: String, certificate: String, key: String) {
            let log = directory + "/openssl.log"
            try await run(openssl, ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                                    "-keyout", directory + "/ca.key", "-out", directory + "/ca.pem", "-days", "2", "-subj", "/CN=GuruRMM test CA",
                                    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"], log: log)
            try await run(openssl, ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                                    "-keyout", directory + "/site.key", "-out", directory + "/site.csr", "-subj", "/CN=localhost"], log: log)
            try "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
                .write(toFile: directory + "/site.ext", atomically: true, encoding: .utf8)
            try await run(openssl, ["x509", "-req", "-in", directory + "/site.csr", "-CA", directory + "/ca.pem", "-CAkey", directory + "/ca.key",
                                    "-CAcreateserial", "-days", "2", "-extfile", directory + "/site.ext", "-out", directory + "/site.pem"], log: log)
            return (directory + "/ca.pem", directory + "/site.pem", directory + "/site.key")
        }

        /// The site with this test's ports, certificate and upstream key, and the shorter timeout.
        /// Every replaced text must be there, so a changed site fails here instead of rendering
        /// into something else; the rest (structure, directives) is the file as shipped.
        static func renderSite(apiPort: Int, agentPort: Int, server: E2EServer, certificate: String, key: String) throws -> String {
            var site = try String(contentsOf: repository.appendingPathComponent("deploy/nginx/gururmm.conf"), encoding: .utf8)
            let replacements = [
                ("listen 443 ssl http2;", "listen 127.0.0.1:\(apiPort) ssl http2;"),
                ("listen 7443 ssl;", "listen 127.0.0.1:\(agentPort) ssl;"),
                ("server 127.0.0.1:7080;", "server 127.0.0.1:\(server.apiPort);"),
                ("server 127.0.0.1:7443;", "server 127.0.0.1:\(server.agentPort);"),
                ("/etc/letsencrypt/live/rmm.example.com/fullchain.pem", certificate),
                ("/etc/letsencrypt/live/rmm.example.com/privkey.pem", key),
                ("/var/lib/gururmm/tls.crt", server.dataDirectory + "/tls.crt"),
                ("proxy_read_timeout 300s;", "proxy_read_timeout \(renderedTimeout)s;"),
                ("proxy_send_timeout 300s;", "proxy_send_timeout \(renderedTimeout)s;"),
            ]
            for (from, to) in replacements {
                guard site.contains(from) else { throw E2EError("deploy/nginx/gururmm.conf no longer has '\(from)'") }
                site = site.replacingOccurrences(of: from, with: to)
            }
            // Loopback IPv4 only: the test machine may have no IPv6.
            return site.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.contains("listen [::]") }.joined(separator: "\n")
        }

        /// The key pin of the site's certificate (`TLSTrust.pin(of:)`, computed by openssl), for
        /// the test's own WebSocket clients, which do not read `SSL_CERT_FILE`.
        static func pin(openssl: String, certificate: String, directory: String) async throws -> TLSTrust {
            let script = "'\(openssl)' x509 -in '\(certificate)' -pubkey -noout | '\(openssl)' pkey -pubin -outform der "
                + "| '\(openssl)' dgst -sha256 -binary | '\(openssl)' base64 -A"
            let base64 = try await run("/bin/sh", ["-c", script], log: directory + "/pin.log").trimmingCharacters(in: .whitespacesAndNewlines)
            let url = base64.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
            return try TLSTrust(parsing: url)
        }

        /// Three well-signed hellos for an agent that does not exist, through nginx from 127.0.0.3
        /// (4001 each), then a fourth connection: the server's answer to it.
        static func failAuthentication(agentPort: Int, trust: TLSTrust) async throws -> LinkClosure? {
            let endpoint = try ServerEndpoint(parsing: "wss://127.0.0.1:\(agentPort)")
            for _ in 0..<3 {
                let link = try await WebSocketConnector.connect(to: endpoint, tls: trust, sourceAddress: "127.0.0.3")
                var events = link.events.makeAsyncIterator()
                guard case .message(let envelope)? = await nextEvent(&events), case .challenge(let challenge) = envelope.message else {
                    throw E2EError("expected a challenge through nginx")
                }
                let signature = try AgentProof.sign(nonce: challenge.nonce, agentId: "ag_nobody", key: Curve25519.Signing.PrivateKey())
                link.send(Envelope(.hello(Hello(agentId: "ag_nobody", signature: signature, facts: malloryFacts, stream: "s", received: nil))))
                let closed = await closeOf(&events)
                guard closed?.code == CloseCode.authenticationFailed.rawValue else { throw E2EError("expected 4001, got \(String(describing: closed))") }
            }
            let link = try await WebSocketConnector.connect(to: endpoint, tls: trust, sourceAddress: "127.0.0.3")
            var events = link.events.makeAsyncIterator()
            return await closeOf(&events)
        }

        /// nginx with its own prefix, pid and logs. It connects upstream from 127.0.0.2 (the
        /// server trusts that address), so the server can tell nginx from the client at 127.0.0.1.
        static func startNginx(_ nginx: String, directory: String, server: E2EServer, certificate: String, key: String) async throws -> (ManagedProcess, api: Int, agent: Int) {
            for attempt in 1...3 {
                let (apiPort, agentPort) = (try ClusterEdgeTests.freeLoopbackPort(), try ClusterEdgeTests.freeLoopbackPort())
                guard apiPort != agentPort else { continue }
                let prefix = directory + "/nginx-\(attempt)"
                try FileManager.default.createDirectory(atPath: prefix + "/temp", withIntermediateDirectories: true)
                try renderSite(apiPort: apiPort, agentPort: agentPort, server: server, certificate: certificate, key: key)
                    .write(toFile: prefix + "/gururmm.conf", atomically: true, encoding: .utf8)
                // As root, workers would switch to nobody, who cannot read this prefix.
                let user = getuid() == 0 ? "user root;\n" : ""
                try """
                \(user)daemon off;
                worker_processes 1;
                pid \(prefix)/nginx.pid;
                error_log \(prefix)/error.log info;
                events { worker_connections 256; }
                http {
                    access_log \(prefix)/access.log;
                    client_body_temp_path \(prefix)/temp/body;
                    proxy_temp_path \(prefix)/temp/proxy;
                    fastcgi_temp_path \(prefix)/temp/fastcgi;
                    uwsgi_temp_path \(prefix)/temp/uwsgi;
                    scgi_temp_path \(prefix)/temp/scgi;
                    proxy_bind 127.0.0.2;
                    include \(prefix)/gururmm.conf;
                }

                """.write(toFile: prefix + "/nginx.conf", atomically: true, encoding: .utf8)
                let process = try ManagedProcess.start(nginx, arguments: ["-p", prefix, "-c", prefix + "/nginx.conf", "-e", prefix + "/error.log"],
                                                       logPath: prefix + "/stdout.log")
                do {
                    try await waitUntil("nginx listens on \(apiPort) and \(agentPort)", timeout: .seconds(10)) {
                        if !process.isRunning {
                            throw E2EError("nginx exited:\n\((try? String(contentsOfFile: prefix + "/error.log", encoding: .utf8)) ?? process.logContents())")
                        }
                        return ClusterEdgeTests.canConnect(port: apiPort) && ClusterEdgeTests.canConnect(port: agentPort)
                    }
                    return (process, apiPort, agentPort)
                } catch {
                    _ = try? await process.terminateAndWait(grace: .seconds(2))
                    if attempt == 3 { throw error }
                }
            }
            throw E2EError("nginx did not start")
        }

        @Test("agents enroll through nginx (WebSocket and long-poll) under their own address, unblocked by another address's failed authentications, stay connected through an idle past its timeout, and run an operator's command sent through it")
        func throughNginx() async throws {
            let nginx = try Self.tool(["/usr/sbin/nginx", "/usr/bin/nginx", "/usr/local/sbin/nginx"], install: "nginx")
            let openssl = try Self.tool(["/usr/bin/openssl", "/usr/local/bin/openssl"], install: "openssl")
            let curl = try Self.tool(["/usr/bin/curl", "/usr/local/bin/curl"], install: "curl")
            let server = try await E2EServer.start(["--enroll-trust", "system", "--trusted-proxy", "127.0.0.2/32",
                                                            "--max-failed-auth-per-minute", "3"], tls: true)
            var front: ManagedProcess?
            var agents: [ManagedProcess] = []
            do {
                let tls = try await Self.makeCertificates(openssl: openssl, in: server.directory)
                let (process, apiPort, agentPort) = try await Self.startNginx(nginx, directory: server.directory, server: server,
                                                                               certificate: tls.certificate, key: tls.key)
                front = process
                let direct = try ClusterEdgeTests.client(of: server)

                // Heartbeats every 2 s (deadline 6 s) and pings every 2 s: under the rendered 8 s.
                var config = try await direct.config()
                config.heartbeatInterval = 2
                config.heartbeatDeadline = 6
                config.pingInterval = 2
                _ = try await direct.putConfig(config)

                // Failed authentications through nginx count against their own client, 127.0.0.3,
                // not against nginx's address, which every agent below comes through too.
                let blocked = try await Self.failAuthentication(
                    agentPort: agentPort, trust: try await Self.pin(openssl: openssl, certificate: tls.certificate, directory: server.directory))
                #expect(blocked?.code == CloseCode.rateLimited.rawValue, "\(String(describing: blocked))")
                #expect(blocked?.reason.hasPrefix("too many failed authentications from 127.0.0.3 ") == true, "\(String(describing: blocked))")

                let trust = ["SSL_CERT_FILE": tls.ca]
                for (name, downlink) in [("via-nginx", "auto"), ("via-nginx-poll", "poll")] {
                    let state = try freeTemporaryDirectory(prefix: "gururmm-agent-\(name)")
                    let token = try #require(try await direct.createEnrollmentToken(expiresSeconds: 600, uses: 1).token)
                    #expect(EnrollmentToken(parsing: token).tlsTrust == "system", "the token tells the agent to trust the site's certificate")
                    try token.write(toFile: state + "/enroll.token", atomically: true, encoding: .utf8)
                    agents.append(try ManagedProcess.start(try gururmmBinary(), arguments: [
                        "agent", "--server", "wss://127.0.0.1:\(agentPort)", "--state-dir", state, "--name", name,
                        "--enroll-token-file", state + "/enroll.token", "--downlink", downlink, "--max-backoff", "1", "--log-level", "debug",
                    ], environment: trust, logPath: state + "/agent.log"))
                }
                let names = ["via-nginx", "via-nginx-poll"]
                try await waitUntil("both agents online through nginx", timeout: .seconds(60)) {
                    let online = try await direct.agents().filter { $0.status == .online }.map(\.name)
                    return names.allSatisfy(online.contains)
                }
                let before = try await direct.agents().filter { names.contains($0.name) }
                for agent in agents {
                    #expect(!agent.logContents().contains("too many failed authentications"), "agents on 127.0.0.1 were never refused for 127.0.0.3's failures")
                }

                // The idle is what is tested: longer than nginx's read and send timeout.
                try await Task.sleep(for: .seconds(Self.renderedTimeout + 3))

                let api = "https://127.0.0.1:\(apiPort)"
                let cli = ["--api", api, "--api-pin", "system", "--token", server.token]
                for name in names {
                    let output = try await Self.run(try gururmmBinary(), ["run"] + cli + ["--agent", name, "--", "echo through-nginx-$((6*7))"],
                                                    environment: trust, log: server.directory + "/cli-\(name).log")
                    #expect(output.contains("through-nginx-42"), "\(name): \(output)")
                }
                let after = try await direct.agents().filter { names.contains($0.name) }
                for agent in before {
                    let now = try #require(after.first { $0.id == agent.id })
                    #expect(now.epoch == agent.epoch, "\(agent.name) kept its session through the idle (epoch \(agent.epoch) -> \(now.epoch))")
                    // nginx (at 127.0.0.2) names the agent's own address in X-Forwarded-For; it has no port.
                    #expect(now.remoteAddress == "127.0.0.1", "\(agent.name): \(now.remoteAddress ?? "nil")")
                }

                // The API port: the operator's address from nginx's X-Forwarded-For, which nginx
                // sets, so a client's own header is not believed.
                _ = try await Self.run(curl, ["-sS", "-f", "--cacert", tls.ca, "-X", "POST", "-H", "Authorization: Bearer \(server.token)",
                                              "-H", "Content-Type: application/json", "-H", "X-Forwarded-For: 198.51.100.66",
                                              "-d", "{\"uses\": 1, \"expires_seconds\": 600}", api + "/api/v1/enrollment-tokens"],
                                       log: server.directory + "/curl.log")
                let audit = try await direct.audit(limit: 50)
                let runs = audit.filter { $0.action == "commands.run" }
                #expect(runs.count == 2 && runs.allSatisfy { $0.remote == "127.0.0.1" }, "\(runs.map(\.remote))")
                // Newest first: curl's through nginx (the forwarded address, which has no port),
                // then the two made directly (the peer itself, with its port).
                let created = audit.filter { $0.action == "enrollment-tokens.create" }.map(\.remote)
                #expect(created.count == 3 && created.first == "127.0.0.1", "a client-written X-Forwarded-For is not believed: \(created)")
                #expect(created.dropFirst().allSatisfy { $0.hasPrefix("127.0.0.1:") }, "\(created)")
            } catch {
                let nginxLog = front.map { _ in (try? FileManager.default.contentsOfDirectory(atPath: server.directory))?.filter { $0.hasPrefix("nginx-") }
                    .compactMap { try? String(contentsOfFile: server.directory + "/" + $0 + "/error.log", encoding: .utf8) }.joined() ?? "" } ?? ""
                Issue.record("\(error)\n---- server ----\n\(server.process.logContents().suffix(6000))\n---- nginx ----\n\(nginxLog.suffix(4000))\n---- agents ----\n\(agents.map { String($0.logContents().suffix(3000)) }.joined(separator: "\n----\n"))")
            }
            for agent in agents { _ = try? await agent.terminateAndWait(grace: .seconds(5)) }
            if let front { _ = try? await front.terminateAndWait(grace: .seconds(5)) }
            await server.stop()
        }
    }
}
