/// One question of the interview: the prompt, when it is asked, and the answer it sets.
struct InitQuestion {
    var prompt: String
    /// The path named in messages (`billing.price`).
    var field: String
    /// Asked only when this holds for the answers so far.
    var isAsked: (InitAnswers) -> Bool
    /// The answer already given, else the default; nil when the answer is required.
    var defaultText: (InitAnswers) -> String?
    /// Checks the typed answer and stores it; throws why it is refused.
    var apply: (String, inout InitAnswers) throws(InitAnswerError) -> Void

    init(_ field: InitField, _ prompt: String, when isAsked: @escaping (InitAnswers) -> Bool = { _ in true }) {
        self.prompt = prompt
        self.field = field.rawValue
        self.isAsked = isAsked
        self.defaultText = { field.text(in: $0) ?? field.defaultText(in: $0) }
        self.apply = { (text, answers) throws(InitAnswerError) in try field.apply(text, to: &answers) }
    }

    init(prompt: String, field: String, defaultText: @escaping (InitAnswers) -> String?,
         apply: @escaping (String, inout InitAnswers) throws(InitAnswerError) -> Void) {
        self.prompt = prompt
        self.field = field
        self.isAsked = { _ in true }
        self.defaultText = defaultText
        self.apply = apply
    }
}
