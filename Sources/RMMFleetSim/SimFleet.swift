import Foundation
import Logging
import RMMAgent
import RMMProtocol
import RMMTransport

/// What every simulated agent shares: options, counters, the identity file, the TLS trust, the
/// connect gate, the facts they report, and (with `fork`) the process runner.
final class SimFleet: Sendable {
    let options: FleetSimOptions
    let counters: FleetCounters
    let store: SimIdentityStore
    let tls: TLSTrust?
    /// Bounds connects in flight over all source addresses.
    let gate: ConnectGate
    let hostname: String
    let os: String
    let fork: ForkRunner?
    let logger: Logger

    init(options: FleetSimOptions, counters: FleetCounters, store: SimIdentityStore, tls: TLSTrust?, fork: ForkRunner?, logger: Logger) {
        self.options = options
        self.counters = counters
        self.store = store
        self.tls = tls
        self.gate = ConnectGate(slots: options.connectConcurrency)
        self.hostname = ProcessInfo.processInfo.hostName
        self.os = currentOSDescription()
        self.fork = fork
        self.logger = logger
    }

    /// The server signing key work must be signed with: pinned at the first welcome, else the token's.
    var expectedServerKey: String? {
        HandshakeAnswer.expectedServerKey(pinned: store.pinned.serverKey, enrollToken: options.enrollToken)
    }
}
