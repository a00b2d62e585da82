import Foundation

/// The interactive side of `tollgate init`: the seven questions one at a time, each with its default in
/// brackets; a refused answer is asked again with the reason. Plain text, no colours.
public struct InitInterview {
    public init() {}

    /// Asks every question that applies, starting from `answers` (from `--answers` or flags: they become
    /// the defaults shown). Throws `aborted` when the input ends first.
    public func run(_ answers: InitAnswers, console: some InitConsole) throws(InitAnswerError) -> InitAnswers {
        var answers = answers
        console.write("""
            tollgate init: seven questions about the API to protect, then a configuration file.
            Press Enter to take the answer in [brackets]; type none to leave an optional answer out.
            End the input (Ctrl-D) to stop without writing anything.

            """)
        for (index, section) in Self.sections.enumerated() {
            console.write("\n\(index + 1)/\(Self.sections.count) \(section.title)\n")
            if let note = section.note { console.write("    \(note)\n") }
            for question in section.questions(answers) where question.isAsked(answers) {
                try ask(question, &answers, console)
            }
        }
        return answers
    }

    private func ask(_ question: InitQuestion, _ answers: inout InitAnswers, _ console: some InitConsole) throws(InitAnswerError) {
        while true {
            let fallback = question.defaultText(answers)
            console.write("  \(question.prompt)\(fallback.map { " [\($0)]" } ?? " (required)"): ")
            guard let line = console.readLine() else {
                console.write("\n")
                throw InitAnswerError(.aborted, field: question.field, "the input ended before every question was answered; nothing was written")
            }
            let typed = line.trimmingCharacters(in: .whitespacesAndNewlines)
            guard let text = typed.isEmpty ? fallback : typed else {
                console.write("  ! an answer is required here.\n")
                continue
            }
            var candidate = answers
            do throws(InitAnswerError) {
                try question.apply(text, &candidate)
                if let conflict = Self.conflict(in: candidate, about: question.field) { throw conflict }
                answers = candidate
                return
            } catch {
                console.write("  ! \(error.message). Please answer again.\n")
            }
        }
    }

    /// A problem this answer causes with the answers before it (a scope on an anonymous resource, a
    /// package for anonymous payers…), found by planning with everything answered so far.
    static func conflict(in answers: InitAnswers, about field: String) -> InitAnswerError? {
        do {
            _ = try InitPlan(answers)
            return nil
        } catch {
            return error.problems.first { problem in
                problem.code != .missing
                    && (problem.field == field || problem.field.hasPrefix(field + ".") || problem.field.hasPrefix(field + "[")
                        || field.hasPrefix(problem.field + "."))
            }
        }
    }
}
