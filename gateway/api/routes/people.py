"""People of the roster, and their bearer tokens."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Response
from pydantic import BaseModel, Field

from gateway.api.auth import hash_token, new_token
from gateway.api.deps import Admin, Context, Viewer
from gateway.places.roster import Person, PersonSpec, Role, person_of

router = APIRouter(prefix="/people", tags=["people"])


class PersonOut(BaseModel):
    id: str
    name: str
    role: Role
    nodes: list[str]
    channels: list[str]
    is_on_duty: bool


class TokenBody(BaseModel):
    label: str | None = Field(None, max_length=64, description="e.g. the phone it is for")


class TokenOut(BaseModel):
    person_id: str
    token: str = Field(description="shown once; only its hash is kept")


def _out(person: Person, context: Context) -> PersonOut:
    return PersonOut(
        id=person.id,
        name=person.name,
        role=person.role,
        nodes=sorted(person.nodes),
        channels=list(person.channels),
        is_on_duty=person.is_on_duty(context.now(), context.tz),
    )


@router.get("/me", response_model=PersonOut)
def me(context: Context, person: Viewer) -> PersonOut:
    """The person the token belongs to."""
    return _out(person, context)


@router.get("", response_model=list[PersonOut])
def list_people(context: Context, person: Viewer) -> list[PersonOut]:
    """People whose nodes overlap yours (an admin sees everybody). Phones are not shown."""
    scope = context.auth.scope(person)
    return [
        _out(p, context)
        for p in context.auth.roster.people.values()
        if scope is None or not scope.isdisjoint(p.nodes)
    ]


def _save(context: Context, spec: PersonSpec) -> Person:
    roster = context.auth.roster
    if roster.is_from_file(spec.id):
        raise HTTPException(
            status_code=409, detail=f"person {spec.id}: in the roster file; edit it"
        )
    try:
        person = person_of(spec, context.registry.site)
    except ValueError as exc:
        raise HTTPException(status_code=422, detail=f"person {spec.id}: {exc}") from exc
    context.store.people.save(spec.id, spec.model_dump(mode="json", by_alias=True), context.now())
    roster.put(person)
    return person


@router.post("", response_model=PersonOut, status_code=201)
def add_person(context: Context, admin: Admin, body: PersonSpec) -> PersonOut:
    """Add a person (same fields as a roster file entry)."""
    if body.id in context.auth.roster.people:
        raise HTTPException(status_code=409, detail=f"person {body.id}: exists")
    return _out(_save(context, body), context)


@router.put("/{person_id}", response_model=PersonOut)
def put_person(context: Context, admin: Admin, person_id: str, body: PersonSpec) -> PersonOut:
    """Add or replace a person added through the API."""
    if body.id != person_id:
        raise HTTPException(status_code=422, detail=f"body says id {body.id!r}")
    return _out(_save(context, body), context)


@router.delete("/{person_id}", status_code=204)
def delete_person(context: Context, admin: Admin, person_id: str) -> Response:
    """Remove a person added through the API; their tokens stop working."""
    roster = context.auth.roster
    if roster.is_from_file(person_id):
        raise HTTPException(status_code=409, detail=f"person {person_id}: in the roster file")
    if person_id not in roster.people:
        raise HTTPException(status_code=404, detail=f"person {person_id}: not found")
    context.store.people.delete(person_id, context.now())
    roster.remove(person_id)
    return Response(status_code=204)


@router.post("/{person_id}/tokens", response_model=TokenOut, status_code=201)
def create_token(context: Context, admin: Admin, person_id: str, body: TokenBody) -> TokenOut:
    """A new bearer token for a person of the roster."""
    if person_id not in context.auth.roster.people:
        raise HTTPException(status_code=404, detail=f"person {person_id}: not in the roster")
    token = new_token()
    context.store.people.add_token(hash_token(token), person_id, body.label, context.now())
    return TokenOut(person_id=person_id, token=token)


@router.delete("/{person_id}/tokens", status_code=200)
def revoke_tokens(context: Context, admin: Admin, person_id: str) -> dict[str, int]:
    """Revoke every token of a person (a lost phone)."""
    return {"revoked": context.store.people.revoke(person_id, context.now())}
