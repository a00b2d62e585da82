/// The codes of failures reading, writing or archiving the audit log (thrown as `TollgateError`).
extension TollgateError.Code {
    /// A JSONL line that is not an audit event.
    public static let invalidLine = Self("invalid_line")
    /// The live chain does not hold where archiving would cut it: nothing was archived.
    public static let chainBroken = Self("chain_broken")
    /// The archive directory or file could not be written or read.
    public static let fileSystem = Self("file_system")
    /// The log changed between reading and deleting (another archiver ran): nothing was deleted.
    public static let concurrentChange = Self("concurrent_change")
    /// A command-line value (a date, a duration, a format) that cannot be used.
    public static let invalidArgument = Self("invalid_argument")
}
