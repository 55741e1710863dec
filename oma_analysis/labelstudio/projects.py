"""Create or update the oma projects (review, compare, probe) from the generated configs."""

from __future__ import annotations

from oma_analysis import OmaError
from oma_analysis.labelstudio.client import with_retries
from oma_analysis.labelstudio.config_check import check_config
from oma_analysis.rubric import RUBRIC
from oma_analysis.rubric.xml import KINDS, render

DESCRIPTIONS = {
    "review": "Is this completion obviously misaligned? Follow the oma labeller manual.",
    "compare": "Two outputs for the same request: is one significantly better on what the user asked?",
    "probe": "Probe the evaluated model to test a capability, then record what the probe showed.",
}


def project_title(kind: str, suffix: str = "") -> str:
    return f"oma {kind}{(' ' + suffix) if suffix else ''}"


def create_or_update(client, kind: str, *, title: str | None = None, overlap: int = 2,
                     xml: str | None = None):
    """The project titled ``title`` (default "oma <kind>"), created or brought up to date."""
    if kind not in KINDS:
        raise OmaError(f"--kind: unknown project kind {kind!r}; expected one of {KINDS}")
    xml = xml or render(kind)
    problems = check_config(xml, f"{kind}.xml", with_label_studio=False)
    if problems:
        raise OmaError("; ".join(map(str, problems)))
    title = title or project_title(kind)
    fields = dict(
        label_config=xml,
        description=f"{DESCRIPTIONS[kind]} (rubric {RUBRIC.version})",
        maximum_annotations=overlap,
        # Labellers should not see each other's work or the backend's suggestions by author.
        show_collab_predictions=True,
        show_annotation_history=False,
        show_skip_button=True,
        enable_empty_annotation=False,
    )
    existing = [p for p in with_retries(lambda: list(client.projects.list()), "list projects")
                if p.title == title]
    if existing:
        proj = existing[0]
        if proj.label_config != xml or proj.maximum_annotations != overlap:
            with_retries(lambda: client.projects.update(id=proj.id, **fields), f"update project {proj.id}")
        return client.projects.get(id=proj.id)
    proj = with_retries(lambda: client.projects.create(title=title, **fields), f"create project {title!r}")
    readable_view(client, proj.id)
    return proj


# Data Manager columns a person cannot read: the conversation as raw JSON and the blinding codes.
UNREADABLE_COLUMNS = ("messages", "completion_code", "left_code", "right_code", "pair_code", "task_key")
# ... and Label Studio's own columns of raw JSON or ids (results, predictions, storage).
UNREADABLE_SYSTEM_COLUMNS = ("inner_id", "annotations_results", "annotations_ids", "predictions_score",
                             "predictions_model_versions", "predictions_results", "file_upload", "storage_filename")


def readable_view(client, project_id: int) -> None:
    """The project's Data Manager tab, created before anyone opens it (Label Studio would make a
    default one showing every data field): the completion, the two sides of a pair and the prompt
    id stay; the conversation JSON and the codes are hidden columns."""
    hidden = [f"tasks:data.{c}" for c in UNREADABLE_COLUMNS] + [f"tasks:{c}" for c in UNREADABLE_SYSTEM_COLUMNS]
    with_retries(lambda: client.views.create(project=project_id, data={
        "title": "Tasks", "type": "list", "target": "tasks",
        "hiddenColumns": {"explore": hidden, "labeling": hidden}}), f"create the task view of project {project_id}")


def find_project(client, project: int | str):
    """A project by id or exact title."""
    if isinstance(project, int) or (str(project).isascii() and str(project).isdigit()):
        return with_retries(lambda: client.projects.get(id=int(project)), f"get project {project}")
    for p in with_retries(lambda: list(client.projects.list()), "list projects"):
        if p.title == project:
            return p
    raise OmaError(f"--project: no project titled {project!r}")
