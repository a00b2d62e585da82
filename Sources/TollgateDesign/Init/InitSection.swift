/// One of the seven questions: a heading and the questions that make it up.
struct InitSection {
    var title: String
    var note: String?
    /// Built when the section starts, from the answers so far (question 4 asks once per API client).
    var questions: (InitAnswers) -> [InitQuestion]
}
