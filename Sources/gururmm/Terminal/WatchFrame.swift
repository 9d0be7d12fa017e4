import Foundation

/// The bytes of one `--watch` refresh: redrawn in place on a terminal, or a plain block under its
/// time for a file or pipe. Pure, so the escape codes are tested without a terminal.
enum WatchFrame {
    /// Hide the cursor while the screen is redrawn (shown again by `restore`).
    static let hideCursor = "\u{1B}[?25l"
    /// Shows the cursor again: written when watching stops.
    static let restore = "\u{1B}[?25h"
    /// Cursor home; the first frame also clears the screen once.
    static let home = "\u{1B}[H"
    static let clearScreen = "\u{1B}[2J"
    /// Erase to the end of the line, and from the cursor to the end of the screen: a frame
    /// overwrites the last one line by line instead of blanking the screen, so it does not flicker.
    static let clearLineEnd = "\u{1B}[K"
    static let clearBelow = "\u{1B}[J"

    /// A refresh for a terminal: the title, then `lines`, each overwriting the last frame's.
    static func terminal(_ lines: [String], title: String, first: Bool) -> String {
        var out = first ? hideCursor + home + clearScreen : home
        for line in [title, ""] + lines { out += line + clearLineEnd + "\n" }
        return out + clearBelow
    }

    /// A refresh for a file or pipe: a line with its time, the lines, a blank line.
    static func plain(_ lines: [String], at time: Date) -> String {
        var out = "--- \(time.ISO8601Format()) ---\n"
        for line in lines { out += line + "\n" }
        return out + "\n"
    }
}
