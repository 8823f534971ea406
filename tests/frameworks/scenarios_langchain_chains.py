"""LangChain chains with no agent, against the scripted chat-completions server: an LCEL
``prompt | model | parser``, a retrieval chain, ``with_structured_output``, a
``prompt | model`` returning the chat message, a chain whose model call fails, and a chain
around an agent. Each chain is a run of its own: its task what it was given, its answer
what it returned. Played on request (collector_run's ``--only chains``); the same
instrumentations as scenarios_langgraph.
"""

from __future__ import annotations

from typing import Any

from langchain_core.documents import Document
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableLambda, RunnablePassthrough
from pydantic import BaseModel

from tests.frameworks import scenario as S
from tests.frameworks.scenarios_langgraph import SERVED_MODEL, build_agent, model_for
from tests.scripted_llm import ScriptedLLM, answer, call_tool, fail

CHAIN = "RunnableSequence"  # what LangChain names a ``|`` chain's run
CAPITAL_FACT = "Paris is the capital of France."


class City(BaseModel):
    """The structured answer a model is asked for."""

    name: str
    country: str


class FactRetriever(BaseRetriever):
    """A retriever returning one fixed document, as a vector store's would."""

    def _get_relevant_documents(self, query: str, *, run_manager: Any = None) -> list[Document]:
        return [Document(page_content=CAPITAL_FACT)]


def _expected(task: str, final_answer: str | None, **fields: Any) -> S.RunExpectation:
    return S.RunExpectation(
        task=task,
        status="completed",
        final_answer=final_answer,
        agent_name=CHAIN,
        model_used=SERVED_MODEL,
        **fields,
    )


def chains(llm: ScriptedLLM) -> list[S.RunExpectation]:
    """Every chain shape, each a run: returns their expectations."""
    return [
        _translation(llm),
        _retrieval(llm),
        _structured(llm),
        _message(llm),
        _failing(llm),
        *_around_an_agent(llm),
    ]


def _translation(llm: ScriptedLLM) -> S.RunExpectation:
    """``prompt | model | StrOutputParser()`` given one prompt variable: the task is that
    variable's text, the answer the parsed text."""
    text = f"{S.tag('lc-translate')} Hello world"
    llm.script(text, [answer("Bonjour le monde")])
    prompt = ChatPromptTemplate.from_messages(
        [("system", "Translate to French."), ("user", "{text}")]
    )
    out = (prompt | model_for(llm) | StrOutputParser()).invoke({"text": text})
    assert out == "Bonjour le monde", out
    return _expected(text, "Bonjour le monde")


def _retrieval(llm: ScriptedLLM) -> S.RunExpectation:
    """A retrieval chain given the question: the task is the question, not the prompt the
    retrieved context was pasted into; the retriever is no step."""
    question = f"{S.tag('lc-rag')} What is the capital of France?"
    llm.script(question, [answer("Paris.")])
    prompt = ChatPromptTemplate.from_template("Context: {context}\nQuestion: {question}")
    chain = (
        {"context": FactRetriever(), "question": RunnablePassthrough()}
        | prompt
        | model_for(llm)
        | StrOutputParser()
    )
    assert chain.invoke(question) == "Paris.", question
    return _expected(question, "Paris.")


def _structured(llm: ScriptedLLM) -> S.RunExpectation:
    """``model.with_structured_output(City)``: the model answers with a tool call the
    parser turns into the object; the run's answer is that object as JSON."""
    question = f"{S.tag('lc-structured')} Which is the capital of France?"
    llm.script(question, [call_tool("City", {"name": "Paris", "country": "France"})])
    structured = model_for(llm).with_structured_output(City, method="function_calling")
    assert structured.invoke(question) == City(name="Paris", country="France")
    return _expected(question, '{"name": "Paris", "country": "France"}')


def _message(llm: ScriptedLLM) -> S.RunExpectation:
    """``prompt | model`` with no parser returns the chat message: its text is the answer."""
    question = f"{S.tag('lc-message')} Say hello."
    llm.script(question, [answer("hello there")])
    chain = ChatPromptTemplate.from_template("{question}") | model_for(llm)
    assert chain.invoke({"question": question}).content == "hello there"
    return _expected(question, "hello there")


def _failing(llm: ScriptedLLM) -> S.RunExpectation:
    """The chain's model call fails (HTTP 500): the run fails with the client's error."""
    question = f"{S.tag('lc-fails')} Say hello."
    llm.script(question, [fail(500, S.MODEL_ERROR)])
    chain = ChatPromptTemplate.from_template("{question}") | model_for(llm) | StrOutputParser()
    try:
        chain.invoke({"question": question})
    except Exception as exc:  # the client's APIError, as LangChain re-raises it
        assert S.MODEL_ERROR in str(exc), exc
    else:
        raise AssertionError("the chain should have failed")
    return S.RunExpectation(
        task=question,
        status="failed",
        final_answer=None,
        error=S.MODEL_ERROR,
        agent_name=CHAIN,
        llm_steps_at_least=0,  # its one model call failed
    )


def _around_an_agent(llm: ScriptedLLM) -> list[S.RunExpectation]:
    """A chain turning a question into the agent's input and its final state into the
    answer: the chain is a run answering what the agent said, the agent its child run."""
    question = f"{S.tag('lc-wrapped')} What is the weather in Paris?"
    llm.script(question, [call_tool("get_weather", S.WEATHER_ARGS), answer("sunny, go out")])
    chain = (
        RunnableLambda(lambda q: {"messages": [{"role": "user", "content": q}]})
        | build_agent(llm)
        | RunnableLambda(lambda state: state["messages"][-1].content)
    )
    assert chain.invoke(question) == "sunny, go out"
    weather = S.ToolExpectation("get_weather", S.WEATHER_ARGS, S.WEATHER_RESULT)
    return [
        _expected(question, "sunny, go out", task_shared=True, llm_steps_at_least=0),
        S.RunExpectation(
            task=question,
            status="completed",
            final_answer="sunny, go out",
            agent_name="weather_agent",
            tools=[weather],
            model_used=SERVED_MODEL,
            parent_task=question,
            task_shared=True,
            llm_steps_at_least=2,
        ),
    ]
