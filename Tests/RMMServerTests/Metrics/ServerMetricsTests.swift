import Foundation
import RMMProtocol
import RMMStore
import RMMTestSupport
import RMMTransport
import Testing
@testable import RMMServer

/// The server's metrics without a server: names, label values from fixed sets, what each event
/// counts, and a body that parses as the exposition format.
@Suite("Server metrics")
struct ServerMetricsTests {
    private func scrape(_ metrics: ServerMetrics) throws -> [PrometheusExposition.Sample] {
        try PrometheusExposition.parse(String(decoding: metrics.render(), as: UTF8.self))
    }

    @Test("a close code is the protocol's number, `none` without a close frame, `other` for any other number")
    func closeCodes() {
        #expect(CloseCodeLabel.value(4004) == "4004")
        #expect(CloseCodeLabel.value(1000) == "1000")
        #expect(CloseCodeLabel.value(nil) == "none")
        #expect(CloseCodeLabel.value(4999) == "other")
        #expect(CloseCodeLabel.value(0) == "other")
        #expect(Set(CloseCodeLabel.all).count == CloseCodeLabel.all.count)
        #expect(CloseCodeLabel.all.count == CloseCode.allCases.count + 2)
        #expect(CloseInitiator(LinkClosure(code: 4004, reason: "", byPeer: true)) == .agent)
        #expect(CloseInitiator(LinkClosure(code: 4004, reason: "", byPeer: false)) == .server)
    }

    @Test("only terminal states count as ended commands; sessions' statuses are online and degraded")
    func labelSets() {
        #expect(CommandState.terminalCases == [.succeeded, .failed, .timedOut, .cancelled, .expired, .interrupted, .rejected])
        #expect(SessionStatusLabel(.online) == .online && SessionStatusLabel(.degraded) == .degraded)
        #expect(SessionStatusLabel(.offline) == nil && SessionStatusLabel(.revoked) == nil)
        #expect(RefusalLimit.allCases.allSatisfy { PrometheusExposition.isLabelName($0.rawValue) })
    }

    @Test("every series exists before any event, with gururmm_ names, base units and label values from the fixed sets")
    func namesAndLabels() throws {
        let samples = try scrape(ServerMetrics())
        #expect(!samples.isEmpty)
        let allowed: [String: Set<String>] = [
            "state": Set(CommandState.terminalCases.map(\.rawValue)),
            "verdict": Set(LinkVerdict.allCases.map(\.rawValue)),
            "source": Set(LinkVerdictSource.allCases.map(\.rawValue)),
            "code": Set(CloseCodeLabel.all),
            "initiator": Set(CloseInitiator.allCases.map(\.rawValue)),
            "backend": Set(StoreBackendName.allCases.map(\.rawValue)),
            "limit": Set(RefusalLimit.allCases.map(\.rawValue)),
            "status": ["online", "degraded", "offline", "revoked"],
            "downlink": Set(DownlinkMode.allCases.map(\.rawValue)),
            "le": [],
        ]
        for sample in samples {
            #expect(sample.name.hasPrefix("gururmm_"), "\(sample.name)")
            #expect(!sample.name.contains("milli") && !sample.name.contains("_ms"), "\(sample.name) is not in base units")
            for (label, value) in sample.labels {
                let values = try #require(allowed[label], "unexpected label \(label) on \(sample.name)")
                if label != "le" { #expect(values.contains(value), "\(sample.name){\(label)=\"\(value)\"}") }
            }
        }
        #expect(samples.value("gururmm_commands_total", ["state": "succeeded"]) == 0)
        #expect(samples.value("gururmm_connections_refused_total", ["limit": "unauthenticated_per_address"]) == 0)
        #expect(samples.value("gururmm_agent_connection_closes_total", ["code": "4004", "initiator": "server"]) == 0)
    }

    @Test("each event counts where its metric says, and nowhere else")
    func eventsCount() throws {
        let metrics = ServerMetrics()
        metrics.commandEnded(.queued)
        metrics.commandEnded(.expired)
        var record = Fixture.command("c1", agent: "a1", created: 0)
        record.state = .succeeded
        metrics.resultStored(record, now: Fixture.at(2))
        metrics.commandAcknowledged(after: 0.02)
        metrics.pong(rttMilliseconds: 12)
        metrics.pong(rttMilliseconds: .nan)
        metrics.verdict(.halfOpen, source: .serverProbe)
        metrics.attached(epoch: 1)
        metrics.attached(epoch: 2)
        metrics.closed(LinkClosure(code: 4004, reason: "quiet", byPeer: false))
        metrics.closed(LinkClosure(code: 4321, reason: "made up", byPeer: true))
        metrics.closed(LinkClosure(code: nil, reason: "reset", byPeer: true))
        metrics.refused(by: .failedAuthPerAddress)
        metrics.committed(backend: .sqlite, seconds: 0.003)
        let samples = try scrape(metrics)
        #expect(samples.value("gururmm_commands_total", ["state": "expired"]) == 1)
        #expect(samples.value("gururmm_commands_total", ["state": "succeeded"]) == 1)
        #expect(samples.filter { $0.name == "gururmm_commands_total" }.map(\.value).reduce(0, +) == 2, "queued is not an end")
        #expect(samples.value("gururmm_command_dispatch_to_result_seconds_count") == 1)
        #expect(samples.value("gururmm_command_dispatch_to_result_seconds_sum") == 2)
        #expect(samples.value("gururmm_command_dispatch_to_result_seconds_bucket", ["le": "2.5"]) == 1)
        #expect(samples.value("gururmm_command_dispatch_to_result_seconds_bucket", ["le": "1.0"]) == 0)
        #expect(samples.value("gururmm_command_sent_to_delivered_seconds_count") == 1)
        #expect(samples.value("gururmm_pong_rtt_seconds_count") == 1, "a NaN round trip is not observed")
        #expect(samples.value("gururmm_pong_rtt_seconds_sum") == 0.012)
        #expect(samples.value("gururmm_link_verdicts_total", ["verdict": "half-open", "source": "server-probe"]) == 1)
        #expect(samples.value("gururmm_agent_reconnects_total") == 1, "epoch 1 is a first connection")
        #expect(samples.value("gururmm_agent_connection_closes_total", ["code": "4004", "initiator": "server"]) == 1)
        #expect(samples.value("gururmm_agent_connection_closes_total", ["code": "other", "initiator": "agent"]) == 1)
        #expect(samples.value("gururmm_agent_connection_closes_total", ["code": "none", "initiator": "agent"]) == 1)
        #expect(samples.value("gururmm_connections_refused_total", ["limit": "failed_auth_per_address"]) == 1)
        #expect(samples.value("gururmm_store_commit_duration_seconds_count", ["backend": "sqlite"]) == 1)
        #expect(samples.value("gururmm_store_commit_duration_seconds_count", ["backend": "postgresql"]) == 0)
    }

    @Test("sent → delivered: the write time of each command an ack newly covers, never again once acknowledged")
    func acknowledgedWrites() {
        var stream = OutboundStream(stream: "s")
        stream.connected(epoch: 1)
        stream.add(Fixture.command("c1", agent: "a1"))
        stream.add(Fixture.command("c2", agent: "a1"))
        stream.written(seq: 1, epoch: 1, bytes: 10, now: Fixture.at(1))
        stream.written(seq: 2, epoch: 1, bytes: 10, now: Fixture.at(2))
        var seen: [Date] = []
        stream.commandWrites(newlyAcknowledgedBy: 1) { seen.append($0) }
        #expect(seen == [Fixture.at(1)])
        _ = stream.acknowledge(through: 1)
        seen = []
        stream.commandWrites(newlyAcknowledgedBy: 1) { seen.append($0) }
        #expect(seen.isEmpty, "an ack already taken covers nothing new")
        stream.commandWrites(newlyAcknowledgedBy: 2) { seen.append($0) }
        #expect(seen == [Fixture.at(2)])
    }
}
