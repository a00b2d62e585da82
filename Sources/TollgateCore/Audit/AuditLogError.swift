/// A failure reading, writing or archiving the audit log; `code` says which kind.
public struct AuditLogError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A stable identifier of the kind of failure.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        public let rawValue: String
        public init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// A JSONL line that is not an audit event.
        public static let invalidLine = Code("invalid_line")
        /// The live chain does not hold where archiving would cut it: nothing was archived.
        public static let chainBroken = Code("chain_broken")
        /// The archive directory or file could not be written or read.
        public static let fileSystem = Code("file_system")
        /// The log changed between reading and deleting (another archiver ran): nothing was deleted.
        public static let concurrentChange = Code("concurrent_change")
        /// A command-line value (a date, a duration, a format) that cannot be used.
        public static let invalidArgument = Code("invalid_argument")
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}
