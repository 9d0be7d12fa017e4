/// Text from the network made fit for one log line: cut short and with every control character
/// escaped, so a peer can neither flood a log nor forge its lines.
public enum LogText {
    /// `text` with at most `limit` characters, control characters and line breaks as `\u{…}`
    /// escapes, and a note of how much was cut.
    public static func of(_ text: String, limit: Int = 200) -> String {
        var out = ""
        var count = 0
        for scalar in text.unicodeScalars {
            if count >= limit {
                out += "…(\(text.utf8.count) bytes)"
                return out
            }
            let properties = scalar.properties
            if properties.generalCategory == .control || properties.generalCategory == .format
                || properties.generalCategory == .lineSeparator || properties.generalCategory == .paragraphSeparator {
                out += "\\u{\(String(scalar.value, radix: 16))}"
            } else {
                out.unicodeScalars.append(scalar)
            }
            count += 1
        }
        return out
    }
}
