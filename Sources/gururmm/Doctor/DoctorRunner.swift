import Foundation
import RMMProtocol
import RMMTransport

/// Does what `DoctorMachine` asks, one step at a time, and hands each finished step to `onStep`
/// as it is known.
struct DoctorRunner: Sendable {
    let endpoint: ServerEndpoint
    /// The trust an agent would use (nil for ws://).
    let trust: TLSTrust?
    let token: String
    let onStep: @Sendable (DoctorStepResult) -> Void

    func run() async -> DoctorReport {
        var machine = DoctorMachine(host: endpoint.host, port: endpoint.port, secure: endpoint.secure)
        var action = machine.start()
        var printed = 0
        var current: DoctorProbeLink?
        var probeId = 0
        while true {
            for step in machine.steps.dropFirst(printed) { onStep(step) }
            printed = machine.steps.count
            let outcome: DoctorOutcome
            switch action {
            case .finish(let conclusion):
                current?.close()
                return DoctorReport(server: endpoint.description, steps: machine.steps, probes: machine.probes, conclusion: conclusion)
            case .resolve:
                outcome = await DoctorNet.resolve(endpoint.host)
            case .connectTCP:
                outcome = await DoctorNet.connectTCP(endpoint)
            case .handshakeTLS:
                guard let trust else {
                    outcome = .failed("no TLS trust: pass --pin, or use a token from the TLS server")
                    break
                }
                outcome = await DoctorNet.handshakeTLS(endpoint, trust: trust)
            case .open(let mode):
                current?.close()
                let opened = await DoctorProbeLink.open(endpoint, trust: trust, mode: mode)
                outcome = opened.0
                current = opened.1
            case .authenticate:
                outcome = await current?.authenticate(token: token) ?? .failed("no connection")
            case .ping(let timeout):
                outcome = await current?.ping(timeout: timeout) ?? .failed("no connection")
            case .echo(let size, let shape, let timeout):
                probeId += 1
                outcome = await current?.echo(id: probeId, size: size, shape: shape, timeout: timeout) ?? .failed("no connection")
            case .close:
                current?.close()
                current = nil
                outcome = .closed
            }
            action = machine.record(outcome)
        }
    }
}
