import Foundation
import Prometheus
import RMMProtocol
import RMMStore
import RMMTransport

/// One server's metrics, in its own `PrometheusCollectorRegistry`.
///
/// Made on the registry directly, not through swift-metrics' global `MetricsSystem` nor its
/// explicit-factory initialisers: one test process runs many servers (benches and the fleet
/// simulator too), so a process-wide bootstrap would mix their figures, and the registry's own
/// API gives each metric its help text and its buckets in seconds, which swift-metrics' `Counter`
/// and `Timer` cannot carry. Every series is made here, up front, for each value of its labels'
/// fixed sets: counting an event is a lookup and an atomic add (a histogram's observe takes its
/// own short lock), never an allocation or a lock shared with other metrics.
public final class ServerMetrics: Sendable {
    /// What `/metrics` renders.
    let registry: PrometheusCollectorRegistry

    private let commandsByState: [CommandState: Counter]
    private let dispatchToResult: ValueHistogram
    private let sentToDelivered: ValueHistogram
    private let pongRTT: ValueHistogram
    private let verdicts: [LinkVerdictSource: [LinkVerdict: Counter]]
    private let reconnects: Counter
    private let closes: [CloseInitiator: [String: Counter]]
    private let storeCommits: [StoreBackendName: ValueHistogram]
    private let refusals: [RefusalLimit: Counter]
    /// The gauges `ScrapeGauges` sets as a scrape begins.
    let gauges: ScrapeGauges

    public init() {
        let registry = PrometheusCollectorRegistry()
        self.registry = registry
        commandsByState = Dictionary(uniqueKeysWithValues: CommandState.terminalCases.map {
            ($0, registry.makeCounter(descriptor: MetricName.commands, labels: [("state", $0.rawValue)]))
        })
        dispatchToResult = registry.makeValueHistogram(descriptor: MetricName.dispatchToResult, labels: [], buckets: MetricName.Buckets.dispatchToResult)
        sentToDelivered = registry.makeValueHistogram(descriptor: MetricName.sentToDelivered, labels: [], buckets: MetricName.Buckets.sentToDelivered)
        pongRTT = registry.makeValueHistogram(descriptor: MetricName.pongRTT, labels: [], buckets: MetricName.Buckets.pongRTT)
        verdicts = Dictionary(uniqueKeysWithValues: LinkVerdictSource.allCases.map { source in
            (source, Dictionary(uniqueKeysWithValues: LinkVerdict.allCases.map { verdict in
                (verdict, registry.makeCounter(descriptor: MetricName.verdicts, labels: [("verdict", verdict.rawValue), ("source", source.rawValue)]))
            }))
        })
        reconnects = registry.makeCounter(descriptor: MetricName.reconnects, labels: [])
        closes = Dictionary(uniqueKeysWithValues: CloseInitiator.allCases.map { initiator in
            (initiator, Dictionary(uniqueKeysWithValues: CloseCodeLabel.all.map { code in
                (code, registry.makeCounter(descriptor: MetricName.closes, labels: [("code", code), ("initiator", initiator.rawValue)]))
            }))
        })
        storeCommits = Dictionary(uniqueKeysWithValues: StoreBackendName.allCases.map {
            ($0, registry.makeValueHistogram(descriptor: MetricName.storeCommit, labels: [("backend", $0.rawValue)], buckets: MetricName.Buckets.storeCommit))
        })
        refusals = Dictionary(uniqueKeysWithValues: RefusalLimit.allCases.map {
            ($0, registry.makeCounter(descriptor: MetricName.refused, labels: [("limit", $0.rawValue)]))
        })
        gauges = ScrapeGauges(registry: registry)
    }

    /// This node moved a command to `state`; only terminal states are counted.
    func commandEnded(_ state: CommandState) {
        commandsByState[state]?.increment()
    }

    /// This node stored an agent's result for `record` (already in its terminal state) at `now`.
    func resultStored(_ record: CommandRecord, now: Date) {
        commandEnded(record.state)
        dispatchToResult.record(max(0, now.timeIntervalSince(record.createdAt)))
    }

    /// The agent acknowledged a command frame last written `seconds` ago.
    func commandAcknowledged(after seconds: Double) {
        sentToDelivered.record(max(0, seconds))
    }

    /// A pong came back `milliseconds` after its ping.
    func pong(rttMilliseconds milliseconds: Double) {
        guard milliseconds.isFinite, milliseconds >= 0 else { return }
        pongRTT.record(milliseconds / 1000)
    }

    /// A session recorded a link verdict.
    func verdict(_ verdict: LinkVerdict, source: LinkVerdictSource) {
        verdicts[source]?[verdict]?.increment()
    }

    /// An agent's session attached on this node with connection epoch `epoch`.
    func attached(epoch: Int) {
        if epoch > 1 { reconnects.increment() }
    }

    /// An authenticated agent connection ended.
    func closed(_ closure: LinkClosure) {
        closes[CloseInitiator(closure)]?[CloseCodeLabel.value(closure.code)]?.increment()
    }

    /// A limit refused a connection.
    func refused(by limit: RefusalLimit) {
        refusals[limit]?.increment()
    }

    /// The exposition text of every metric, after the scrape-time gauges were set by the caller.
    func render() -> [UInt8] {
        registry.emitToBuffer()
    }
}

extension ServerMetrics: StoreCommitObserver {
    public func committed(backend: StoreBackendName, seconds: Double) {
        storeCommits[backend]?.record(seconds)
    }
}
