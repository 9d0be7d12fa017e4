import Foundation

/// Server-sent events in their text format: `event: name` and one `data:` line of JSON (a JSON
/// encoding has no raw newline in it).
enum ServerSentEvent {
    static func event<T: Encodable>(_ name: String, _ value: T) -> String {
        "event: \(name)\ndata: \(json(value))\n\n"
    }

    static func json<T: Encodable>(_ value: T) -> String {
        (try? JSONEncoder().encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}
