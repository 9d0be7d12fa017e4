import Foundation
import RMMAPI
import RMMProtocol
import RMMTestSupport
import RMMTransport
import Testing

extension EndToEnd {
    /// The cluster's edge with real processes: an agent with several `--server` URLs, an agent
    /// learning a node from the welcome, and a server behind haproxy's PROXY protocol. The two
    /// "nodes" are two TCP paths (`FaultProxy`) to one server, which is what an agent sees of a
    /// cluster whose nodes share one database.
    @Suite("End to end: several servers", .serialized)
    struct ClusterEdgeTests {
        @Test("an agent given two --server URLs whose first is dead enrolls through the second and runs a command")
        func deadFirstServer() async throws {
            let server = try await E2EServer.start()
            // A port that was just listening and no longer is: connecting is refused.
            let gone = try await FaultProxy.start(upstreamHost: "127.0.0.1", upstreamPort: server.agentPort)
            let deadURL = "ws://127.0.0.1:\(gone.port)"
            try await gone.stop()
            var agent: E2EAgent?
            do {
                let token = try await server.api.enrollToken()
                agent = try E2EAgent.start(name: "second", server: deadURL, enrollToken: token, arguments: ["--server", server.agentURL])
                try await server.api.waitOnline("second")
                let result = try #require(try await server.api.finish(try await server.api.run(["second"], "echo reached")).first)
                #expect(result.state == .succeeded)
                #expect(result.stdout == "reached\n")
                #expect(agent?.process.logContents().contains("trying server ws://127.0.0.1:\(server.agentPort)") == true)
            } catch {
                Issue.record("\(error)\n---- server ----\n\(server.process.logContents().suffix(6000))\n---- agent ----\n\(agent?.process.logContents().suffix(6000) ?? "")")
            }
            await agent?.stop()
            await server.stop()
        }

        @Test("an agent learns a node from the welcome, keeps it in its state directory, and moves to it when its own path dies")
        func learnsNode() async throws {
            let server = try await E2EServer.start()
            let direct = try await FaultProxy.start(upstreamHost: "127.0.0.1", upstreamPort: server.agentPort)
            let other = try await FaultProxy.start(upstreamHost: "127.0.0.1", upstreamPort: server.agentPort)
            let otherURL = "ws://127.0.0.1:\(other.port)/agent"
            var agent: E2EAgent?
            // A proxy is stopped once: a second stop would wait on its stopped event loop.
            var directStopped = false
            do {
                try await server.restart(adding: ["--advertise-url", otherURL])
                try await server.api.useFastLiveness()
                let token = try await server.api.enrollToken()
                let started = try E2EAgent.start(name: "learner", server: "ws://127.0.0.1:\(direct.port)", enrollToken: token)
                agent = started
                try await server.api.waitOnline("learner")
                let file = started.stateDirectory + "/servers.json"
                try await waitUntil("the learned node list is saved") {
                    (try? String(contentsOfFile: file, encoding: .utf8))?.contains("127.0.0.1:\(other.port)") == true
                }
                let mode = (try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? NSNumber)?.intValue
                #expect(mode == 0o600)
                #expect(other.acceptedCount == 0)
                let epoch = try #require(try await server.api.agent(named: "learner")).epoch

                // The only configured path goes away for good.
                directStopped = true
                try await direct.stop()
                let api = server.api
                try await waitUntil("the agent is back through the learned node", timeout: .seconds(30)) {
                    guard let now = try await api.agent(named: "learner") else { return false }
                    return now.epoch > epoch && now.status == .online && other.acceptedCount > 0
                }
                let result = try #require(try await server.api.finish(try await server.api.run(["learner"], "echo moved")).first)
                #expect(result.state == .succeeded)
                #expect(result.stdout == "moved\n")
            } catch {
                Issue.record("\(error)\n---- server ----\n\(server.process.logContents().suffix(6000))\n---- agent ----\n\(agent?.process.logContents().suffix(6000) ?? "")")
            }
            await agent?.stop()
            await server.stop()
            if !directStopped { try? await direct.stop() }
            try? await other.stop()
        }

        @Test("X-Forwarded-For from a trusted proxy names the client in the audit and the failure limit; a client's own claim is not read")
        func forwardedFor() async throws {
            let server = try await E2EServer.start(["--trusted-proxy", "127.0.0.1/32", "--max-failed-auth-per-minute", "2"])
            do {
                let api = server.api
                let body = Data("{\"uses\": 1, \"expires_seconds\": 600}".utf8)
                let (status, _) = try await api.send("POST", "/api/v1/enrollment-tokens", body: body, authorization: "Bearer \(server.token)",
                                                     headers: ["X-Forwarded-For": "6.6.6.6, 198.51.100.7"])
                #expect(status == 201 || status == 200)
                let entry = try #require(try await api.client.audit(limit: 5).first { $0.action == "enrollment-tokens.create" })
                #expect(entry.remote == "198.51.100.7", "audit remote \(entry.remote)")
                // Failed authentications count against the forwarded client, not the proxy.
                for _ in 0..<3 {
                    _ = try await api.send("GET", "/api/v1/agents", authorization: "Bearer wrong", headers: ["X-Forwarded-For": "198.51.100.9"])
                }
                let (blocked, _) = try await api.send("GET", "/api/v1/agents", authorization: "Bearer \(server.token)", headers: ["X-Forwarded-For": "198.51.100.9"])
                #expect(blocked == 429)
                let (other, _) = try await api.send("GET", "/api/v1/agents", authorization: "Bearer \(server.token)", headers: ["X-Forwarded-For": "198.51.100.10"])
                #expect(other == 200, "another client behind the same proxy is not blocked")
            } catch {
                Issue.record("\(error)\n---- server ----\n\(server.process.logContents().suffix(6000))")
            }
            await server.stop()
        }

        /// Where Debian's haproxy is, if installed.
        static let haproxy: String? = ["/usr/sbin/haproxy", "/usr/bin/haproxy", "/usr/local/sbin/haproxy"].first {
            FileManager.default.isExecutableFile(atPath: $0)
        }

        /// haproxy's path; without it the test is skipped saying why (failed under GURURMM_REQUIRE_TOOLS=1).
        static func requireHAProxy() throws -> String {
            guard let haproxy else {
                let why = "needs haproxy in front of the server (apt-get install haproxy)"
                if ProcessInfo.processInfo.environment["GURURMM_REQUIRE_TOOLS"] == "1" { throw E2EError("GURURMM_REQUIRE_TOOLS=1: " + why) }
                try Test.cancel(Comment(rawValue: why))
            }
            return haproxy
        }

        @Test("behind haproxy with send-proxy-v2: the server sees the agent's address as haproxy reports it, and a command runs",
              arguments: [false, true])
        func behindHAProxy(tls: Bool) async throws {
            let haproxy = try Self.requireHAProxy()
            // haproxy connects from 127.0.0.2, the agent from 127.0.0.1: without the header the
            // server would see the proxy's address.
            let server = try await E2EServer.start(["--trusted-proxy", "127.0.0.2/32"], tls: tls)
            var balancer: ManagedProcess?
            var agent: E2EAgent?
            do {
                let (process, port) = try await Self.startHAProxy(haproxy, directory: server.directory, upstreamPort: server.agentPort)
                balancer = process
                let client = try Self.client(of: server)
                let token = try await client.createEnrollmentToken(expiresSeconds: 600, uses: 1).token ?? ""
                agent = try E2EAgent.start(name: "proxied", server: "\(tls ? "wss" : "ws")://127.0.0.1:\(port)", enrollToken: token)
                try await waitUntil("proxied online", timeout: .seconds(30)) {
                    try await client.agents().contains { $0.name == "proxied" && $0.status == .online }
                }
                let seen = try #require(try await client.agents().first { $0.name == "proxied" }?.remoteAddress)
                // haproxy's log line names the client it proxied for (`log-format client %ci:%cp`).
                try await waitUntil("haproxy logged the connection") { process.logContents().contains("client 127.0.0.1:") }
                let reported = process.logContents().split(separator: "\n").compactMap { line -> String? in
                    guard let range = line.range(of: "client ") else { return nil }
                    return String(line[range.upperBound...]).trimmingCharacters(in: .whitespaces)
                }
                #expect(reported.contains(seen), "server saw \(seen); haproxy reported \(reported)")
                #expect(seen.hasPrefix("127.0.0.1:"))
                let enrolled = try #require(try await client.audit(limit: 20).first { $0.action == "agents.enroll" })
                #expect(enrolled.remote == seen, "the enroll audit names the agent, not the proxy")
                let batch = try await client.run(RunRequest(agents: ["proxied"], all: nil, command: "echo through", script: nil, interpreter: nil,
                                                            timeoutSeconds: 60, expiresSeconds: 60))
                let id = try #require(batch.commands.first).commandId
                try await waitUntil("the command ends", timeout: .seconds(60)) { try await client.command(id).state.isTerminal }
                let result = try await client.command(id)
                #expect(result.state == .succeeded)
                #expect(result.stdout == "through\n")
            } catch {
                Issue.record("\(error)\n---- server ----\n\(server.process.logContents().suffix(6000))\n---- haproxy ----\n\(balancer?.logContents().suffix(3000) ?? "")\n---- agent ----\n\(agent?.process.logContents().suffix(4000) ?? "")")
            }
            await agent?.stop()
            if let balancer { _ = try? await balancer.terminateAndWait(grace: .seconds(5)) }
            await server.stop()
        }

        /// The typed API client for `server`, over TLS with the pin from its `server.json` when it has one.
        static func client(of server: E2EServer) throws -> GuruAPIClient {
            let ready = try APICoding.decoder().decode(ServerReady.self, from: Data(contentsOf: URL(fileURLWithPath: server.dataDirectory + "/server.json")))
            guard let base = URL(string: ready.apiUrl) else { throw E2EError("bad API URL \(ready.apiUrl)") }
            return GuruAPIClient(base: base, token: server.token, tls: try ready.tlsPin.map { try TLSTrust(parsing: $0) })
        }

        /// Starts haproxy on a free loopback port in front of `upstreamPort`, with `send-proxy-v2`.
        /// haproxy cannot report a port it picked, so a free one is found first; a lost race with
        /// another process for it is retried.
        static func startHAProxy(_ executable: String, directory: String, upstreamPort: Int) async throws -> (ManagedProcess, Int) {
            try await startHAProxy(executable, directory: directory, upstreamPorts: [upstreamPort])
        }

        /// haproxy in front of several upstreams, each new connection to the next (`balance roundrobin`).
        static func startHAProxy(_ executable: String, directory: String, upstreamPorts: [Int]) async throws -> (ManagedProcess, Int) {
            let servers = upstreamPorts.enumerated().map { index, port in
                "    server node\(index + 1) 127.0.0.1:\(port) send-proxy-v2 source 127.0.0.2"
            }.joined(separator: "\n")
            for attempt in 1...3 {
                let port = try freeLoopbackPort()
                let config = directory + "/haproxy-\(attempt).cfg"
                try """
                global
                    log stdout format raw local0
                defaults
                    mode tcp
                    log global
                    option logasap
                    log-format "client %ci:%cp"
                    timeout connect 5s
                    timeout client 1h
                    timeout server 1h
                frontend agents
                    bind 127.0.0.1:\(port)
                    default_backend nodes
                backend nodes
                    balance roundrobin
                \(servers)

                """.write(toFile: config, atomically: true, encoding: .utf8)
                let process = try ManagedProcess.start(executable, arguments: ["-db", "-f", config], logPath: directory + "/haproxy-\(attempt).log")
                do {
                    try await waitUntil("haproxy listens on \(port)", timeout: .seconds(10)) {
                        if !process.isRunning { throw E2EError("haproxy exited:\n\(process.logContents())") }
                        return canConnect(port: port)
                    }
                    return (process, port)
                } catch {
                    _ = try? await process.terminateAndWait(grace: .seconds(2))
                    if attempt == 3 { throw error }
                }
            }
            throw E2EError("haproxy did not start")
        }

        /// A loopback port nothing listens on right now (bound with port 0, then released).
        static func freeLoopbackPort() throws -> Int {
            let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard descriptor >= 0 else { throw E2EError("socket failed") }
            defer { close(descriptor) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = 0
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = withUnsafeMutablePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) == 0 && getsockname(descriptor, $0, &length) == 0 }
            }
            guard bound else { throw E2EError("bind failed") }
            return Int(UInt16(bigEndian: address.sin_port))
        }

        static func canConnect(port: Int) -> Bool {
            let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard descriptor >= 0 else { return false }
            defer { close(descriptor) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = UInt16(port).bigEndian
            return withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
            }
        }
    }
}
