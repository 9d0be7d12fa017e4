import Foundation
import GRDB
import RMMProtocol

/// Column conversions shared by the SQLite store; decoding never traps, it throws `corrupt`.
extension Date {
    /// The stored form: seconds since the reference date, exactly what `Date` holds.
    var dbSeconds: Double { timeIntervalSinceReferenceDate }
}

extension Optional where Wrapped == Date {
    var dbSeconds: Double? { self?.timeIntervalSinceReferenceDate }
}

extension Row {
    func value<T: DatabaseValueConvertible>(_ column: String, as type: T.Type = T.self) throws -> T {
        do {
            return try decode(T.self, forColumn: column)
        } catch {
            throw StoreError.corrupt("column \(column): \(error)")
        }
    }

    /// The value at `index` of a row whose columns are known by position; `column` names it in errors.
    func value<T: DatabaseValueConvertible>(at index: Int, _ column: String, as type: T.Type = T.self) throws -> T {
        guard index < count else { throw StoreError.corrupt("column \(column): row has only \(count) columns") }
        do {
            return try decode(T.self, atIndex: index)
        } catch {
            throw StoreError.corrupt("column \(column): \(error)")
        }
    }

    func date(at index: Int, _ column: String) throws -> Date {
        Date(timeIntervalSinceReferenceDate: try value(at: index, column, as: Double.self))
    }

    func enumValue<E: RawRepresentable>(at index: Int, _ column: String, as type: E.Type) throws -> E where E.RawValue == String {
        let raw = try value(at: index, column, as: String.self)
        guard let parsed = E(rawValue: raw) else { throw StoreError.corrupt("column \(column): unknown value '\(raw)'") }
        return parsed
    }

    func date(_ column: String) throws -> Date {
        Date(timeIntervalSinceReferenceDate: try value(column, as: Double.self))
    }

    func optionalDate(_ column: String) throws -> Date? {
        try value(column, as: Double?.self).map { Date(timeIntervalSinceReferenceDate: $0) }
    }

    func enumValue<E: RawRepresentable>(_ column: String, as type: E.Type) throws -> E where E.RawValue == String {
        let raw = try value(column, as: String.self)
        guard let parsed = E(rawValue: raw) else { throw StoreError.corrupt("column \(column): unknown value '\(raw)'") }
        return parsed
    }
}

/// JSON for the few structured values kept in one column (config, metrics).
enum StoredJSON {
    static func encode<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func decode<T: Decodable>(_ type: T.Type, from text: String, what: String) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(text.utf8))
        } catch {
            throw StoreError.corrupt("\(what): \(error)")
        }
    }
}

extension AgentRecord {
    static let columns = """
        id, name, public_key, hostname, os, version, enrolled_at, epoch, last_seen_at, connected_since,
        last_downlink_at, disconnected_at, config_version_applied, last_pong_rtt_ms, metrics_json, revoked_at, remote_address
        """

    init(row: Row) throws {
        let metricsJSON = try row.value("metrics_json", as: String?.self)
        self.init(
            id: try row.value("id"), name: try row.value("name"), publicKey: try row.value("public_key"),
            hostname: try row.value("hostname"), os: try row.value("os"), version: try row.value("version"),
            enrolledAt: try row.date("enrolled_at"), epoch: try row.value("epoch"),
            lastSeenAt: try row.optionalDate("last_seen_at"), connectedSince: try row.optionalDate("connected_since"),
            lastDownlinkAt: try row.optionalDate("last_downlink_at"),
            disconnectedAt: try row.optionalDate("disconnected_at"),
            configVersionApplied: try row.value("config_version_applied"),
            lastPongRttMs: try row.value("last_pong_rtt_ms"),
            metrics: try metricsJSON.map { try StoredJSON.decode(HostMetrics.self, from: $0, what: "agent metrics") },
            revokedAt: try row.optionalDate("revoked_at"), remoteAddress: try row.value("remote_address")
        )
    }
}

extension CommandRecord {
    static let columns = """
        id, agent_id, batch_id, kind, text, interpreter, timeout_seconds, created_at, expires_at, state, reason,
        exit_code, signal, stdout_truncated, stderr_truncated, updated_at, created_by, version
        """

    /// Decodes by position, in the order of `columns`: commands are read on every lifecycle step,
    /// and looking columns up by name (case-folded each time) was a visible share of that cost.
    init(row: Row) throws {
        self.init(
            id: try row.value(at: 0, "id"), agentId: try row.value(at: 1, "agent_id"), batchId: try row.value(at: 2, "batch_id"),
            kind: try row.enumValue(at: 3, "kind", as: CommandSpec.Kind.self), text: try row.value(at: 4, "text"),
            interpreter: try row.value(at: 5, "interpreter"), timeoutSeconds: try row.value(at: 6, "timeout_seconds"),
            createdAt: try row.date(at: 7, "created_at"), expiresAt: try row.date(at: 8, "expires_at"),
            state: try row.enumValue(at: 9, "state", as: CommandState.self), reason: try row.value(at: 10, "reason"),
            exitCode: try row.value(at: 11, "exit_code"), signal: try row.value(at: 12, "signal"),
            stdoutTruncated: try row.value(at: 13, "stdout_truncated"), stderrTruncated: try row.value(at: 14, "stderr_truncated"),
            updatedAt: try row.date(at: 15, "updated_at"), createdBy: try row.value(at: 16, "created_by"),
            version: try row.value(at: 17, "version")
        )
    }
}

extension EnrollmentTokenRecord {
    static let columns = "id, created_at, expires_at, uses_left, revoked_at"

    init(row: Row) throws {
        self.init(
            id: try row.value("id"), createdAt: try row.date("created_at"), expiresAt: try row.optionalDate("expires_at"),
            usesLeft: try row.value("uses_left"), revokedAt: try row.optionalDate("revoked_at")
        )
    }
}

extension APITokenRecord {
    static let columns = "id, name, role, created_at, revoked_at"

    init(row: Row) throws {
        self.init(
            id: try row.value("id"), name: try row.value("name"), role: try row.value("role"),
            createdAt: try row.date("created_at"), revokedAt: try row.optionalDate("revoked_at")
        )
    }
}
