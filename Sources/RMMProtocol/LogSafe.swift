/// Text that came from the network, made fit for one log line or error message.
///
/// Anything a peer sends (agent ids and names, reasons, close reasons, command ids, message types,
/// URIs, headers, token names) may be megabytes long or carry newlines that forge log lines and
/// ANSI escapes that rewrite a terminal. Every such value goes through `text(_:limit:)` before it
/// is logged: cut to `limit` characters with the size of the rest said, and every control or
/// formatting character (line breaks, ESC, bidi overrides) and the backslash escaped, so the line
/// reads unambiguously. Only the kept prefix is read, so a huge value costs no more than a short one.
public enum LogSafe {
    /// Characters kept by default: enough for any id, name or reason the protocol defines.
    public static let defaultLimit = 200

    /// `value` escaped and cut to at most `limit` characters of output (plus a note of what was cut).
    public static func text(_ value: some StringProtocol, limit: Int = defaultLimit) -> String {
        let limit = max(1, limit)
        let scalars = value.unicodeScalars
        var out = ""
        var length = 0
        var kept = 0
        var index = scalars.startIndex
        while index < scalars.endIndex {
            let scalar = scalars[index]
            let piece = escaped(scalar)
            let pieceLength = piece.unicodeScalars.count
            guard length + pieceLength <= limit else { break }
            out += piece
            length += pieceLength
            kept += UTF8.width(scalar)
            index = scalars.index(after: index)
        }
        if index < scalars.endIndex {
            out += "…[+\(value.utf8.count - kept) bytes]"
        }
        return out
    }

    /// Any value's description (an error, a closure), escaped and cut like `text(_:limit:)`.
    public static func describe(_ value: Any, limit: Int = defaultLimit) -> String {
        text(String(describing: value), limit: limit)
    }

    /// One scalar as it appears in the output: itself, or an escape for anything that is not plainly printable.
    private static func escaped(_ scalar: Unicode.Scalar) -> String {
        switch scalar {
        case "\\": return "\\\\"
        case "\n": return "\\n"
        case "\r": return "\\r"
        case "\t": return "\\t"
        default:
            switch scalar.properties.generalCategory {
            case .control, .format, .lineSeparator, .paragraphSeparator, .surrogate, .privateUse, .unassigned:
                return "\\u{" + String(scalar.value, radix: 16) + "}"
            default:
                return String(scalar)
            }
        }
    }
}
