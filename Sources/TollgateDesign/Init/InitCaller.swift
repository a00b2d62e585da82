/// Who sends requests (question 2).
public enum InitCaller: String, Sendable, Hashable, CaseIterable {
    case human, script, agent, integration

    static let aliases = ["humans": "human", "person": "human", "people": "human", "user": "human", "users": "human",
                          "scripts": "script", "agents": "agent", "ai": "agent", "ai-agent": "agent",
                          "integrations": "integration"]
}
