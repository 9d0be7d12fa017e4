import Foundation
import RMMAPI
import RMMProtocol
import RMMServer
import RMMTestSupport
import Testing

extension EndToEnd {
    /// Each failure mode of the dossier (H1–H7 in docs/diagnosis.md), reproduced on real sockets: the system names
    /// it with the right verdict within 30 s, heals it, and the command still runs exactly once.
    @Suite("End to end: link health", .serialized)
    struct LinkHealthTests {
        /// A server, a fault proxy in front of its agent port, and one agent connecting through it.
        private func withProxiedAgent(
            _ name: String,
            heartbeat: Double = 1,
            deadline: Double = 3,
            ping: Double = 1,
            _ body: (E2EServer, FaultProxy, E2EAgent) async throws -> Void
        ) async throws {
            let server = try await E2EServer.start()
            let proxy = try await FaultProxy.start(upstreamHost: "127.0.0.1", upstreamPort: server.agentPort)
            var agent: E2EAgent?
            do {
                try await server.api.useFastLiveness(heartbeat: heartbeat, deadline: deadline, ping: ping)
                let token = try await server.api.enrollToken()
                let started = try E2EAgent.start(name: name, server: "ws://127.0.0.1:\(proxy.port)", enrollToken: token)
                agent = started
                try await server.api.waitOnline(name)
                try await body(server, proxy, started)
            } catch {
                Issue.record("\(error)\n---- server ----\n\(server.process.logContents().suffix(8000))\n---- agent ----\n\(agent?.process.logContents().suffix(8000) ?? "")")
            }
            await agent?.stop()
            await server.stop()
            try? await proxy.stop()
        }

        /// Waits for a diagnosis with `verdict` (automatic, after a command stays unacknowledged).
        private func waitVerdict(_ api: TestAPI, _ agent: String, _ verdict: LinkVerdict, timeout: Duration = .seconds(30)) async throws -> LinkDiagnosis {
            try await waitUntil("verdict \(verdict.rawValue) for \(agent)", timeout: timeout, poll: .milliseconds(200)) {
                try await api.link(agent)?.verdict == verdict
            }
            return try #require(try await api.link(agent))
        }

        /// What the operator sees: `gururmm agents verdicts` lists the verdict from the server's
        /// probes, and `gururmm agents` names the agent's current verdict.
        private func expectCLIShows(_ server: E2EServer, _ agent: String, _ verdict: LinkVerdict) async throws {
            // The diagnosis is visible a moment before its verdict is stored.
            let data = server.dataDirectory
            try await waitUntil("gururmm agents verdicts \(agent) lists \(verdict.rawValue)", timeout: .seconds(10), poll: .milliseconds(300)) {
                let history = try await runCLI(dataDirectory: data, ["agents", "verdicts", agent])
                return history.code == 0 && history.output.contains("\(verdict.rawValue) (in session, from a server probe)")
            }
            let list = try await server.cli(["agents"])
            #expect(list.code == 0)
            #expect(list.output.split(separator: "\n").contains { $0.hasPrefix(agent + " ") || $0.contains(" \(agent) ") }, "\(list.output)")
        }

        private func ledgerLines(_ path: String) throws -> [String] {
            (try? String(contentsOfFile: path, encoding: .utf8))?.split(separator: "\n").map(String.init) ?? []
        }

        @Test("dossier: pings and pongs pass, uplink works, downlink data frames vanish → path-filters-data, and the command runs once through the fallback")
        func dossierDownlinkDataVanishes() async throws {
            // A long agent deadline, so the server's own diagnosis (not the agent's) is what heals here.
            try await withProxiedAgent("dossier", heartbeat: 2, deadline: 20) { server, proxy, _ in
                let ledger = server.directory + "/ledger"
                // From now on every server→agent text or binary frame vanishes; pings, pongs, closes and
                // everything the agent sends still pass — on this connection and on every new one.
                proxy.setMode(.dropDownlinkData)
                let batch = try await server.api.run(["dossier"], "echo ran >> \(ledger); echo ok", expires: 120)
                let diagnosis = try await waitVerdict(server.api, "dossier", .pathFiltersData)
                try await expectCLIShows(server, "dossier", .pathFiltersData)
                #expect(diagnosis.pongRttMs != nil, "control frames pass")
                #expect(diagnosis.probes.allSatisfy { !$0.passed }, "no data echo passes: \(diagnosis.probes)")
                // The uplink still carries the agent's frames, with or without a fresh agent report.
                #expect(diagnosis.summary.contains("dropped on the way down"), "\(diagnosis.summary)")
                #expect(diagnosis.actions.contains { $0.contains("downlink") }, "falls back to another downlink: \(diagnosis.actions)")
                let result = try #require(try await server.api.finish(batch, timeout: 60).first)
                #expect(result.state == .succeeded, "\(result.reason ?? "")")
                #expect(result.stdout == "ok\n")
                #expect(try ledgerLines(ledger) == ["ran"], "exactly once")
                #expect(result.events?.contains { $0.reason?.contains("path-filters-data") == true } == true, "the verdict is in the command's history")
                let agent = try #require(try await server.api.agent(named: "dossier"))
                #expect(agent.downlinkMode == .poll)
                #expect(agent.status == .online, "online again: the downlink is proven through the fallback")
            }
        }

        @Test("pings far apart (as by default), downlink data frames vanish: the agent probes with a ping of its own, sees the pong, and falls back to another downlink by itself")
        func agentFindsQuietDownlinkWithRarePings() async throws {
            // Routine pings every 60 s would never land between the last data frame and the 3 s
            // deadline: only the agent's probe ping (after 1.5 heartbeat intervals without data)
            // can show that control frames still pass, so that the agent blames the path and not
            // the connection.
            try await withProxiedAgent("rare-pings", heartbeat: 1, deadline: 3, ping: 60) { server, proxy, agent in
                proxy.setMode(.dropDownlinkData)
                let api = server.api
                try await waitUntil("the agent falls back to the poll downlink", timeout: .seconds(40), poll: .milliseconds(250)) {
                    let view = try await api.agent(named: "rare-pings")
                    return view?.downlinkMode == .poll && view?.status == .online
                }
                // The very first deadline already knew the path passes control frames. (Without the
                // probe it would call the connection dead, reconnect, and only find out from the
                // next handshake: the same end, one reconnect later.)
                let expiries = agent.process.logContents().split(separator: "\n").filter { $0.contains("no data frame from the server") }
                #expect(expiries.first?.contains("control_alive=true") == true, "\(expiries)")
            }
        }

        @Test("text frames filtered but binary pass → path-filters-data, healed with binary frames")
        func textFilteredBinaryPasses() async throws {
            try await withProxiedAgent("textless", heartbeat: 2, deadline: 20) { server, proxy, _ in
                proxy.setMode(.dropDownlinkText)
                let batch = try await server.api.run(["textless"], "echo via-binary", expires: 120)
                let diagnosis = try await waitVerdict(server.api, "textless", .pathFiltersData)
                try await expectCLIShows(server, "textless", .pathFiltersData)
                #expect(diagnosis.probes.contains { $0.encoding == "binary" && $0.passed })
                let result = try #require(try await server.api.finish(batch, timeout: 60).first)
                #expect(result.state == .succeeded)
                #expect(try await server.api.agent(named: "textless")?.downlinkMode == .binary)
            }
        }

        @Test("frames above a size are dropped → size-blackhole naming the largest size that passed; healed by a smaller message cap")
        func sizeLimitOnPath() async throws {
            try await withProxiedAgent("narrow", heartbeat: 2, deadline: 20) { server, proxy, _ in
                let ledger = server.directory + "/ledger"
                proxy.setMode(.dropFramesLargerThan(12_000))
                // A 20 KiB script: its command frame is larger than the path lets through.
                let filler = String(repeating: "x", count: 20_000)
                let script = "echo big >> \(ledger)\n: '\(filler)'\necho done\n"
                let batch = try await server.api.runScript(["narrow"], script)
                let diagnosis = try await waitVerdict(server.api, "narrow", .sizeBlackhole)
                try await expectCLIShows(server, "narrow", .sizeBlackhole)
                #expect(diagnosis.largestPassedBytes == 4096, "64 B, 1 KiB and 4 KiB pass, 16 KiB does not")
                let result = try #require(try await server.api.finish(batch, timeout: 60).first)
                #expect(result.state == .succeeded, "\(result.reason ?? "")")
                #expect(try ledgerLines(ledger) == ["big"])
            }
        }

        @Test("the agent's consumer stalls (H2) → agent-stalled; the session is rebuilt and the command runs once")
        func agentConsumerStalls() async throws {
            // The stall is injected into an agent built from the library: the shipped agent has no fault switch.
            let server = try await E2EServer.start()
            let proxy = try await FaultProxy.start(upstreamHost: "127.0.0.1", upstreamPort: server.agentPort)
            var agent: InProcessAgent?
            do {
                try await server.api.useFastLiveness(heartbeat: 1, deadline: 3, ping: 1)
                let token = try await server.api.enrollToken()
                let started = try InProcessAgent.start(name: "stuck", server: "ws://127.0.0.1:\(proxy.port)", enrollToken: token,
                                                       configure: { $0.watchdogSeconds = 60 }, beforeHandling: stallConsumer(atCommand: 1))
                agent = started
                try await server.api.waitOnline("stuck")
                let ledger = server.directory + "/ledger"
                let batch = try await server.api.run(["stuck"], "echo once >> \(ledger)", expires: 120)
                let diagnosis = try await waitVerdict(server.api, "stuck", .agentStalled)
                try await expectCLIShows(server, "stuck", .agentStalled)
                #expect(diagnosis.pongRttMs != nil, "the agent's transport still answers pings")
                #expect((diagnosis.agent?.consumerStalledSeconds ?? 0) > 0)
                let result = try #require(try await server.api.finish(batch, timeout: 60).first)
                #expect(result.state == .succeeded)
                #expect(try ledgerLines(ledger) == ["once"])
                #expect(started.stoppedBecause == nil)
            } catch {
                Issue.record("\(error)\n---- server ----\n\(server.process.logContents().suffix(8000))")
            }
            await agent?.stop()
            await server.stop()
            try? await proxy.stop()
        }

        @Test("a corrupted frame after the ConfigUpdate → protocol-desync; fresh codec state, command runs once")
        func corruptedFrame() async throws {
            try await withProxiedAgent("garbled") { server, proxy, _ in
                let ledger = server.directory + "/ledger"
                proxy.setModeOfExistingConnections(.corruptDownlinkDataFrame(after: 0))
                let batch = try await server.api.run(["garbled"], "echo once >> \(ledger)", expires: 120)
                let diagnosis = try await waitVerdict(server.api, "garbled", .protocolDesync)
                let data = server.dataDirectory
                try await waitUntil("gururmm agents verdicts lists the agent's protocol-desync", timeout: .seconds(10), poll: .milliseconds(300)) {
                    try await runCLI(dataDirectory: data, ["agents", "verdicts", "garbled"]).output.contains("protocol-desync (in session, from the agent's report)")
                }
                #expect(diagnosis.firstBadMessage?.contains("malformed") == true, "\(diagnosis.firstBadMessage ?? "nil")")
                #expect(proxy.corruptedFrames == 1)
                let result = try #require(try await server.api.finish(batch, timeout: 60).first)
                #expect(result.state == .succeeded)
                #expect(try ledgerLines(ledger) == ["once"])
            }
        }

        @Test("the path stops forwarding without closing (H7) → half-open; the agent's new connection gets the command once")
        func halfOpenVerdict() async throws {
            try await withProxiedAgent("limbo", heartbeat: 2, deadline: 20) { server, proxy, _ in
                let ledger = server.directory + "/ledger"
                proxy.setModeOfExistingConnections(.halfOpen)
                let batch = try await server.api.run(["limbo"], "echo once >> \(ledger)", expires: 120)
                let diagnosis = try await waitVerdict(server.api, "limbo", .halfOpen)
                try await expectCLIShows(server, "limbo", .halfOpen)
                #expect(diagnosis.pongRttMs == nil)
                let result = try #require(try await server.api.finish(batch, timeout: 60).first)
                #expect(result.state == .succeeded)
                #expect(try ledgerLines(ledger) == ["once"])
            }
        }

        @Test("the proxy stops reading from the server (H5) → write-blocked; closed, reconnected, command runs once")
        func writeClog() async throws {
            try await withProxiedAgent("clogged", heartbeat: 2, deadline: 20) { server, proxy, _ in
                let ledger = server.directory + "/ledger"
                proxy.setModeOfExistingConnections(.stopReading(.downlink))
                // Big enough to fill the socket buffers between server and proxy.
                let filler = String(repeating: "y", count: 7 << 20)
                let batch = try await server.api.runScript(["clogged"], "echo once >> \(ledger)\n: '\(filler)'\n")
                let diagnosis = try await waitVerdict(server.api, "clogged", .writeBlocked)
                try await expectCLIShows(server, "clogged", .writeBlocked)
                #expect((diagnosis.server?.queuedBytes ?? 0) > 0)
                let result = try #require(try await server.api.finish(batch, timeout: 90).first)
                #expect(result.state == .succeeded, "\(result.reason ?? "")")
                #expect(try ledgerLines(ledger) == ["once"])
            }
        }

        @Test("a command that cannot be delivered even after healing ends expired, with the verdict as its reason")
        func unhealableExpires() async throws {
            try await withProxiedAgent("doomed", heartbeat: 2, deadline: 20) { server, proxy, _ in
                // Every connection, old and new, silently dies: nothing can heal this.
                proxy.setMode(.halfOpen)
                let batch = try await server.api.run(["doomed"], "echo never", expires: 8)
                let result = try #require(try await server.api.finish(batch, timeout: 60).first)
                #expect(result.state == .expired)
                #expect(result.reason?.contains("link verdict") == true, "\(result.reason ?? "nil")")
            }
        }
    }
}
