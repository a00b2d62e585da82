/// Collects every problem while answers are checked, so one run reports all of them.
struct InitProblems {
    var list: [InitAnswerError] = []

    /// The value `body` returns, or nil after recording why it failed.
    mutating func check<T>(_ body: () throws -> T) -> T? {
        do {
            return try body()
        } catch let error as InitAnswerError {
            list.append(error)
        } catch {
            list.append(.invalid("", "\(error)"))
        }
        return nil
    }

    /// `value` checked by `body`, or a `missing` problem naming what is needed.
    mutating func required<T>(_ value: String?, _ field: String, _ what: String, _ body: (String) throws -> T) -> T? {
        guard let value else {
            list.append(.missing(field, what))
            return nil
        }
        return check { try body(value) }
    }

    /// `value` checked by `body` when given.
    mutating func optional<T>(_ value: String?, _ body: (String) throws -> T) -> T? {
        guard let value else { return nil }
        return check { try body(value) }
    }

    mutating func add(_ problem: InitAnswerError) { list.append(problem) }
}
