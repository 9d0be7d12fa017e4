import Foundation
import RMMAPI
import RMMProtocol
import RMMServer
import RMMTestSupport
import Testing

extension EndToEnd {
    /// Link faults present before the agent ever connects (a WAF rule already in place): the agent
    /// heals by itself, and the operator sees why, in `gururmm agents` and `gururmm diagnose`.
    @Suite("End to end: link faults from the first frame", .serialized)
    struct FirstFrameFaultTests {
        /// A server behind a fault proxy already in `mode`, and one agent enrolling through it.
        private func withFaultFromTheStart(
            _ name: String, mode: FaultMode, waitOnline: Bool = true, _ body: (E2EServer, FaultProxy, E2EAgent, String) async throws -> Void
        ) async throws {
            let server = try await E2EServer.start(["--handshake-timeout", "5"])
            let proxy = try await FaultProxy.start(upstreamHost: "127.0.0.1", upstreamPort: server.agentPort)
            var agent: E2EAgent?
            do {
                proxy.setMode(mode)
                try await server.api.useFastLiveness(heartbeat: 1, deadline: 3, ping: 1)
                let token = try await server.api.enrollToken()
                let url = "ws://127.0.0.1:\(proxy.port)"
                let started = try E2EAgent.start(name: name, server: url, enrollToken: token, arguments: ["--handshake-timeout", "3"])
                agent = started
                if waitOnline { try await server.api.waitOnline(name, timeout: .seconds(40)) }
                try await body(server, proxy, started, url)
            } catch {
                Issue.record("\(error)\n---- server ----\n\(server.process.logContents().suffix(8000))\n---- agent ----\n\(agent?.process.logContents().suffix(8000) ?? "")")
            }
            await agent?.stop()
            await server.stop()
            try? await proxy.stop()
        }

        private func waitVerdict(_ api: TestAPI, _ name: String, _ verdict: LinkVerdict, source: LinkVerdictSource) async throws -> AgentView {
            try await waitUntil("verdict \(verdict.rawValue) (\(source.rawValue)) for \(name)", timeout: .seconds(30), poll: .milliseconds(200)) {
                let view = try await api.agent(named: name)
                return view?.verdict?.verdict == verdict && view?.verdict?.source == source
            }
            return try #require(try await api.agent(named: name))
        }

        @Test("dossier from the first frame: every downlink data frame dropped before the agent connects → it heals to poll; agents shows path-filters-data (handshake) and the poll reason; diagnose shows healthy on poll plus the verdict since T; a command delayed by it says so")
        func dossierFromTheFirstFrame() async throws {
            try await withFaultFromTheStart("waf", mode: .dropDownlinkData) { server, _, agent, url in
                let view = try await waitVerdict(server.api, "waf", .pathFiltersData, source: .handshake)
                #expect(view.downlinkMode == .poll)
                #expect(view.verdict?.stage == .challenge)
                #expect(view.downlinkReason?.hasPrefix("poll: WebSocket data frames filtered on this path since ") == true,
                        "\(view.downlinkReason ?? "nil")")

                let agents = try await server.cli(["agents"])
                #expect(agents.code == 0)
                #expect(agents.output.contains("path-filters-data (poll)"), "\(agents.output)")
                #expect(agents.output.contains("link: waf: path-filters-data since "), "\(agents.output)")
                #expect(agents.output.contains(" (at the challenge, from the handshake (claimed by the agent)): "), "\(agents.output)")
                #expect(agents.output.contains("downlink: waf: poll: WebSocket data frames filtered on this path"), "\(agents.output)")
                let json = try await server.cli(["agents", "--json"])
                #expect(json.output.contains("\"downlink_reason\""), "\(json.output)")

                // A command runs through the fallback.
                let ran = try #require(try await server.api.finish(try await server.api.run(["waf"], "echo ok", expires: 60), timeout: 60).first)
                #expect(ran.state == .succeeded)

                let diagnose = try await server.cli(["diagnose", "waf"])
                #expect(diagnose.code == 0)
                #expect(diagnose.output.contains("verdict   healthy"), "\(diagnose.output)")
                #expect(diagnose.output.contains("history   healthy on the poll downlink; WebSocket data frames filtered on this path since "), "\(diagnose.output)")
                #expect(diagnose.output.contains("(path-filters-data, at the challenge, from the handshake (claimed by the agent);"), "\(diagnose.output)")

                // A command queued while the agent is away waits through its fallback again: its
                // history says what delayed it.
                try await agent.kill()
                let batch = try await server.api.run(["waf"], "echo again", expires: 120)
                try agent.restart(server: url)
                let again = try #require(try await server.api.finish(batch, timeout: 60).first)
                #expect(again.state == .succeeded)
                let show = try await server.cli(["commands", "show", again.id])
                #expect(show.output.contains("delayed by link verdict path-filters-data (handshake, challenge) since "), "\(show.output)")

                // What was attributed is no longer listed as anonymous per-address evidence.
                let addresses = try await server.cli(["diagnose", "--addresses"])
                #expect(addresses.code == 0)
                #expect(!addresses.output.contains("k_") || addresses.output.contains("not attributed to any agent"), "\(addresses.output)")
            }
        }

        @Test("text frames dropped from the first frame → the agent heals to binary; agents shows path-filters-data (handshake) and the binary reason")
        func textFilteredFromTheFirstFrame() async throws {
            try await withFaultFromTheStart("textless-start", mode: .dropDownlinkText) { server, _, _, _ in
                let view = try await waitVerdict(server.api, "textless-start", .pathFiltersData, source: .handshake)
                #expect(view.downlinkMode == .binary)
                let agents = try await server.cli(["agents"])
                #expect(agents.output.contains("path-filters-data (binary)"), "\(agents.output)")
                #expect(agents.output.contains("downlink: textless-start: binary: WebSocket data frames filtered on this path"), "\(agents.output)")
                let diagnose = try await server.cli(["diagnose", "textless-start"])
                #expect(diagnose.output.contains("history   healthy on the binary downlink; WebSocket data frames filtered on this path since "), "\(diagnose.output)")
                // What diagnose asks for: adverse entries only, without evidence, at most two.
                let lean: [VerdictView] = try await server.api.call("GET", "/api/v1/agents/\(view.id)/verdicts?adverse=true&evidence=false&limit=2")
                #expect(!lean.isEmpty && lean.count <= 2 && lean.allSatisfy { $0.verdict.isAdverse && $0.evidence == nil }, "\(lean)")
            }
        }

        /// Waits until `gururmm ARGS` prints `text`; returns the output.
        @discardableResult
        private func waitForCLI(_ server: E2EServer, _ arguments: [String], toPrint text: String, timeout: Duration = .seconds(30)) async throws -> String {
            let data = server.dataDirectory
            try await waitUntil("gururmm \(arguments.joined(separator: " ")) prints '\(text)'", timeout: timeout, poll: .milliseconds(500)) {
                try await runCLI(dataDirectory: data, arguments).output.contains(text)
            }
            return try await server.cli(arguments).output
        }

        @Test("the proxy never reads from the server (no upgrade answer reaches the agent): the server's failed handshakes are listed per address, attributed to no agent")
        func stopReadingFromTheFirstFrame() async throws {
            try await withFaultFromTheStart("unread", mode: .stopReading(.downlink), waitOnline: false) { server, _, agent, _ in
                let output = try await waitForCLI(server, ["diagnose", "--addresses"], toPrint: "handshake-incomplete (challenge)")
                #expect(output.contains("address   127.0.0.1 (not attributed to any agent)"), "\(output)")
                #expect(output.contains("no hello came"), "\(output)")
                #expect(!output.contains("k_"), "connection ids stay on the server: \(output)")
                // The agent finds it by itself too (no answer to its upgrade), but no path works to say so.
                let process = agent.process
                try await waitUntil("the agent treats the lost answer as a blackhole", timeout: .seconds(20)) {
                    process.logContents().contains("clamped TCP MSS")
                }
                #expect(try await server.api.agents().isEmpty, "never enrolled: nothing is pinned on any agent")
            }
        }

        @Test("the path forwards nothing at all from the first byte (half-open): the server lists the silent TCP connections per address, at the TLS stage")
        func halfOpenFromTheFirstFrame() async throws {
            try await withFaultFromTheStart("silent", mode: .halfOpen, waitOnline: false) { server, _, _, _ in
                let output = try await waitForCLI(server, ["diagnose", "--addresses"], toPrint: "handshake-incomplete (tls)")
                #expect(output.contains("TCP accepted but TLS or the upgrade never completed"), "\(output)")
                #expect(output.contains("not attributed to any agent"), "\(output)")
            }
        }

        @Test("frames above 12 KB dropped from the first frame: the handshake passes, the first large command → size-blackhole (server probe), shown by the CLI")
        func sizeLimitFromTheFirstFrame() async throws {
            try await withFaultFromTheStart("narrow-start", mode: .dropFramesLargerThan(12_000)) { server, _, _, _ in
                let script = ": '\(String(repeating: "x", count: 20_000))'\necho done\n"
                let batch = try await server.api.runScript(["narrow-start"], script)
                try await waitForCLI(server, ["agents", "verdicts", "narrow-start"], toPrint: "size-blackhole (in session, from a server probe)", timeout: .seconds(40))
                let result = try #require(try await server.api.finish(batch, timeout: 60).first)
                #expect(result.state == .succeeded, "\(result.reason ?? "")")
                let show = try await server.cli(["commands", "show", result.id])
                #expect(show.output.contains("size-blackhole"), "\(show.output)")
            }
        }

        @Test("every connection's welcome corrupted from the first frame: the agent never gets a session, and agents shows protocol-desync (agent report)")
        func corruptedFromTheFirstFrame() async throws {
            try await withFaultFromTheStart("garbled-start", mode: .corruptDownlinkDataFrame(after: 1), waitOnline: false) { server, _, _, _ in
                let output = try await waitForCLI(server, ["agents"], toPrint: "link: garbled-start: protocol-desync since ")
                #expect(output.contains("protocol-desync since ") && output.contains("(in session, from the agent's report)"), "\(output)")
            }
        }

        @Test("a relay forging commands far ahead from the first frame: real work runs, the forgeries are refused, and agents shows path-alters-data (agent report)")
        func forgedFromTheFirstFrame() async throws {
            try await withFaultFromTheStart("forged", mode: .forgeCommandsAhead(seq: 1 << 52)) { server, _, _, _ in
                let batch = try await server.api.run(["forged"], "echo real")
                let result = try #require(try await server.api.finish(batch, timeout: 30).first)
                #expect(result.state == .succeeded, "\(result.state) \(result.reason ?? "")")
                try await waitForCLI(server, ["agents"], toPrint: "link: forged: path-alters-data since ")
            }
        }

        @Test("a relay replaying commands from the first frame: duplicates are dropped by sequence number, the work runs once, and no adverse verdict is shown")
        func replayedFromTheFirstFrame() async throws {
            try await withFaultFromTheStart("replayed", mode: .replayCommands) { server, _, _, _ in
                let ledger = server.directory + "/ledger"
                let batch = try await server.api.run(["replayed"], "echo once >> \(ledger)")
                let result = try #require(try await server.api.finish(batch, timeout: 30).first)
                #expect(result.state == .succeeded)
                #expect(try String(contentsOfFile: ledger, encoding: .utf8) == "once\n")
                let agents = try await server.cli(["agents"])
                #expect(!agents.output.contains("link: replayed:"), "\(agents.output)")
            }
        }

        @Test("a relay tampering with commands from the first frame: the agent refuses the work, reports it, and agents shows path-alters-data (agent report)")
        func tamperedFromTheFirstFrame() async throws {
            try await withFaultFromTheStart("relayed", mode: .tamperCommands(marker: "MARK-", replacement: "EVIL-")) { server, _, _, _ in
                let batch = try await server.api.run(["relayed"], "echo MARK-1")
                let result = try #require(try await server.api.finish(batch, timeout: 30).first)
                #expect(result.state == .rejected, "the agent refuses tampered work: \(result.state)")
                let output = try await waitForCLI(server, ["agents"], toPrint: "link: relayed: path-alters-data since ")
                #expect(output.contains("(in session, from the agent's report)"), "\(output)")
            }
        }
    }
}
