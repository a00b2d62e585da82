/// Where the interview writes its questions and reads the answers: the terminal, or a script in tests.
public protocol InitConsole {
    /// Writes `text` as is (no newline added) and makes it visible at once.
    func write(_ text: String)
    /// One line typed, without its newline; nil when the input has ended.
    func readLine() -> String?
}
