/// Every problem found in one set of answers.
public struct InitAnswersError: Error, Sendable, Hashable, CustomStringConvertible {
    public var problems: [InitAnswerError]

    public init(_ problems: [InitAnswerError]) { self.problems = problems }

    /// The answers that are required and were not given.
    public var missing: [InitAnswerError] { problems.filter { $0.code == .missing } }

    public var description: String { problems.map { "  \($0)" }.joined(separator: "\n") }
}
