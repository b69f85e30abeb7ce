"""HTTP routes of clarification questions: parse, call a use case, render."""

from __future__ import annotations

from aiohttp import web

from bidding_service.questions import service
from bidding_service.routes import CENTER, SEALER, SUPPLIER, api
from bidding_service.schemas import AnswerQuestion, AskQuestion, QuestionOut, QuestionPage
from shared.http import DB, authenticate, optional_principal, parse_body, path_uuid, render


@api.route("POST", "/v1/rounds/{round_id}/questions",
           summary="An invited supplier asks a question (anonymously)", roles=(SUPPLIER,),
           body=AskQuestion, response=QuestionOut, status=201, errors=(404, 409))
async def ask_question(request: web.Request) -> web.Response:
    caller = await authenticate(request, SUPPLIER)
    round_id = path_uuid(request, "round_id")
    cmd = await parse_body(request, AskQuestion)
    body = await service.ask(request.app[DB], round_id, caller, cmd.text, request.app[SEALER])
    return render(body, 201,
                  headers={"Location": f"/v1/rounds/{round_id}/questions/{body['id']}"})


@api.route("GET", "/v1/rounds/{round_id}/questions",
           summary="The round's questions and answers (answered ones only without a token)",
           response=QuestionPage, errors=(401, 403, 404))
async def list_questions(request: web.Request) -> web.Response:
    caller = await optional_principal(request)
    return render(await service.questions(request.app[DB], path_uuid(request, "round_id"),
                                          caller, request.app[SEALER]))


@api.route("POST", "/v1/rounds/{round_id}/questions/{question_id}/answer",
           summary="The center answers a question (once)", roles=(CENTER,),
           body=AnswerQuestion, response=QuestionOut, errors=(404, 409))
async def answer_question(request: web.Request) -> web.Response:
    caller = await authenticate(request, CENTER)
    round_id = path_uuid(request, "round_id")
    question_id = path_uuid(request, "question_id")
    cmd = await parse_body(request, AnswerQuestion)
    return render(await service.answer(request.app[DB], round_id, question_id, caller,
                                       cmd.text))
