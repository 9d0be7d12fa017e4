import Crypto
import Foundation
import RMMAgent
import Synchronization

/// One simulated agent as the state file keeps it.
struct SimAgentRecord: Codable, Sendable {
    var name: String
    /// Raw Ed25519 private key, base64.
    var privateKey: String
    /// Set once the server welcomed the agent (enrolled).
    var agentId: String?
}

/// The state file: every agent's identity, and the server trust pinned at enrollment.
struct SimFleetFile: Codable, Sendable {
    var format = 1
    var serverKey: String?
    var tlsTrust: String?
    var agents: [SimAgentRecord] = []
}

/// The fleet's identities in one file, `fleet-sim.json` in the state directory (0600, replaced
/// atomically), so a restarted simulator comes back as the same agents without enrolling again.
/// Keys are written before their first enrollment, as the real agent does, so a crash between
/// enrolling and saving the id re-enrolls the same key and gets the same agent back.
final class SimIdentityStore: Sendable {
    static let fileName = "fleet-sim.json"

    let path: String
    private let state: Mutex<(file: SimFleetFile, dirty: Bool)>

    private init(path: String, file: SimFleetFile) {
        self.path = path
        state = Mutex((file, false))
    }

    /// Loads the file (or starts one), adds agents up to `count` with new keys, and saves it when
    /// it added any. Blocking file I/O: call off the cooperative pool.
    static func open(directory: String, count: Int, namePrefix: String) throws -> SimIdentityStore {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let path = directory + "/" + fileName
        var file = SimFleetFile()
        if FileManager.default.fileExists(atPath: path) {
            do {
                file = try JSONDecoder().decode(SimFleetFile.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
            } catch {
                throw SimError.badState("\(path) is unreadable (\(error)); move it away to start a new fleet")
            }
        }
        let width = max(5, String(count).count)
        let existing = file.agents.count
        while file.agents.count < count {
            let number = String(file.agents.count + 1)
            let name = namePrefix + String(repeating: "0", count: max(0, width - number.count)) + number
            file.agents.append(SimAgentRecord(name: name, privateKey: Curve25519.Signing.PrivateKey().rawRepresentation.base64EncodedString()))
        }
        let store = SimIdentityStore(path: path, file: file)
        if file.agents.count > existing { try store.write(file) }
        return store
    }

    /// The first `count` agents' records.
    func records(_ count: Int) -> [SimAgentRecord] {
        state.withLock { Array($0.file.agents.prefix(count)) }
    }

    var pinned: (serverKey: String?, tlsTrust: String?) {
        state.withLock { ($0.file.serverKey, $0.file.tlsTrust) }
    }

    /// The server welcomed agent `index` under `agentId`; saved by the next `flush()`.
    func enrolled(_ index: Int, agentId: String) {
        state.withLock { state in
            guard state.file.agents.indices.contains(index), state.file.agents[index].agentId != agentId else { return }
            state.file.agents[index].agentId = agentId
            state.dirty = true
        }
    }

    /// Pins the server's signing key and TLS trust at the first welcome (the fleet has one server).
    func pin(serverKey: String?, tlsTrust: String?) {
        state.withLock { state in
            if state.file.serverKey == nil, let serverKey {
                state.file.serverKey = serverKey
                state.dirty = true
            }
            if state.file.tlsTrust != tlsTrust, let tlsTrust {
                state.file.tlsTrust = tlsTrust
                state.dirty = true
            }
        }
    }

    /// Writes the file if anything changed since the last write. Blocking file I/O.
    func flush() throws {
        guard let file = state.withLock({ state -> SimFleetFile? in
            guard state.dirty else { return nil }
            state.dirty = false
            return state.file
        }) else { return }
        do {
            try write(file)
        } catch {
            state.withLock { $0.dirty = true }
            throw error
        }
    }

    private func write(_ file: SimFleetFile) throws {
        try PrivateFile.save(try JSONEncoder().encode(file), to: path)
    }
}

/// Runs blocking work (file I/O, fsync) on a Dispatch thread, never on Swift's cooperative pool.
enum OffPool {
    static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(with: Result { try body() }) }
        }
    }
}

/// Why the simulator cannot start or an agent stops.
public enum SimError: Error, Sendable, CustomStringConvertible {
    case badOption(String)
    case badState(String)

    public var description: String {
        switch self {
        case .badOption(let why), .badState(let why): return why
        }
    }
}
