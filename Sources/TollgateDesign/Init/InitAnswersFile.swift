import Foundation
import TollgateConfiguration
import Yams

/// Reads an answers file (`tollgate init --answers FILE`): YAML or JSON with the field names of
/// `InitAnswers` in snake_case (docs/init.md). Unknown keys are errors, so a typo never silently falls
/// back to a default.
public enum InitAnswersFile {
    public static func load(path: String) throws(InitAnswersError) -> InitAnswers {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw InitAnswersError([.invalid("", "cannot read the answers file \(path)")])
        }
        return try parse(text)
    }

    public static func parse(_ text: String) throws(InitAnswersError) -> InitAnswers {
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: text) else { return InitAnswers() }
            root = node
        } catch {
            throw InitAnswersError([.invalid("", "not valid YAML or JSON: \(error)")])
        }
        guard root.mapping != nil else { throw InitAnswersError([.invalid("", "expected a mapping of questions to answers")]) }
        if let path = root.firstBaseSixtyNumber() {
            throw InitAnswersError([.invalid(path, "is written as a base-60 number (like 1:30:00); write a plain number, or quote it as text")])
        }
        let answers: InitAnswers
        do {
            answers = try YAMLDecoder().decode(InitAnswers.self, from: root)
        } catch let error as DecodingError {
            throw InitAnswersError([problem(error, root)])
        } catch {
            throw InitAnswersError([.invalid("", "\(error)")])
        }
        var unknown: [InitAnswerError] = []
        if let encoded = try? YAMLEncoder().encode(answers), let roundTrip = try? Yams.compose(yaml: encoded) {
            collectUnknownKeys(root, roundTrip, path: "", into: &unknown)
        }
        guard unknown.isEmpty else { throw InitAnswersError(unknown) }
        return answers
    }

    /// A key of `given` that did not survive decoding and encoding again is one no answer has.
    static func collectUnknownKeys(_ given: Node, _ known: Node?, path: String, into problems: inout [InitAnswerError]) {
        switch given {
        case .mapping(let mapping):
            for (key, value) in mapping {
                let name = key.string ?? "?"
                let child = path.isEmpty ? name : "\(path).\(name)"
                guard let match = known?.mapping?[key] else {
                    if value.null == nil {
                        problems.append(.init(.unknownKey, field: child, "unknown answer\(line(key))"))
                    }
                    continue
                }
                collectUnknownKeys(value, match, path: child, into: &problems)
            }
        case .sequence(let items):
            for (index, item) in items.enumerated() {
                let match: Node? = if case .sequence(let others)? = known, index < others.count { others[index] } else { nil }
                collectUnknownKeys(item, match, path: "\(path)[\(index)]", into: &problems)
            }
        default:
            break
        }
    }

    static func problem(_ error: DecodingError, _ root: Node) -> InitAnswerError {
        let (path, message): ([any CodingKey], String) = switch error {
        case .typeMismatch(let type, let context): (context.codingPath, "expected \(describe(type))")
        case .valueNotFound(let type, let context): (context.codingPath, "expected \(describe(type))")
        case .keyNotFound(let key, let context): (context.codingPath + [key], "is required")
        case .dataCorrupted(let context): (context.codingPath, context.debugDescription)
        @unknown default: ([], "\(error)")
        }
        let field = path.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined().trimmingPrefix(".")
        var node: Node? = root
        for key in path {
            if let index = key.intValue, case .sequence(let items)? = node { node = index < items.count ? items[index] : nil }
            else { node = node?.mapping?[key.stringValue] }
        }
        return .invalid(String(field), message + (node.map(line) ?? ""))
    }

    static func describe(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type: "a whole number"
        case is Double.Type: "a number"
        case is Bool.Type: "true or false"
        case is String.Type: "a text value"
        case is [String].Type: "a list of text values"
        default: "a \(type)"
        }
    }

    static func line(_ node: Node) -> String { node.mark.map { " (line \($0.line))" } ?? "" }
}
