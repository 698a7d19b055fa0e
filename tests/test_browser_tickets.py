"""A ticket's life in a real browser: the client creates it, the agent processes it,
the client closes it; the closed page then says to open a new ticket. Then each role
at its main task: the agent from the queue to an assignment and an internal note, the
client's landing page and buttons, a reply by mail showing on the page.

With SCREENSHOTS_DIR set, the screens are kept there as PNG files."""
import os
import re

from playwright.sync_api import expect

from app.extensions import db
from app.models import ProjectTicket
from app.platform import inbound
from app.rules import tickets as rules

from .helpers import user


def test_client_creates_agent_processes_client_closes(browser_login, live_url):
    client = browser_login("client")
    client.goto(f"{live_url}/extranet/")
    client.click("text=Billetterie Festival 2026")
    client.click("text=Créer un ticket")
    client.fill("#title", "Le plan de salle ne s'affiche pas")
    client.fill("#description", "Page blanche sur Firefox depuis ce matin.")
    client.select_option("#priority", "high")
    client.click("button[type=submit].btn-primary")
    expect(client.locator(".alert-danger")).to_contain_text("Contexte de la priorité")  # High needs its context
    client.fill("#priority_context", "Ouverture des ventes demain")
    client.click("button[type=submit].btn-primary")
    client.wait_for_url(re.compile(r"/extranet/ticket/[A-Z0-9]{7}$"))
    reference = client.url.rsplit("/", 1)[-1]
    expect(client.locator("#ticket-state")).to_have_text("Nouveau")

    agent = browser_login("agent")
    agent.goto(f"{live_url}/extranet/ticket/{reference}")
    agent.click("#assign-button")  # the list offers the agent first: taking it
    expect(agent.locator("#ticket-state")).to_have_text("Affecté")
    expect(agent.locator("#ticket-assignee")).to_have_text("Inès Benali")
    agent.fill("#comment", "Corrigé : le plan se charge de nouveau.")
    agent.click("button[value=process]")
    expect(agent.locator("#ticket-state")).to_have_text("Traité")

    client.goto(f"{live_url}/extranet/ticket/{reference}")
    assert "Corrigé : le plan se charge de nouveau." in client.locator("#ticket-history").inner_text()
    client.fill("#comment", "Vérifié, merci.")
    client.click("button[value=close]")
    expect(client.locator("#ticket-state")).to_have_text("Clôturé")
    expect(client.locator("#ticket-closed")).to_contain_text("créer un nouveau ticket")
    assert client.locator("button[name=action]").count() == 0


# -- The vendor's staff and the client, each at their main task --


def _shot(page, name):
    """Keep a screenshot of what the person sees when SCREENSHOTS_DIR is set."""
    folder = os.environ.get("SCREENSHOTS_DIR")
    if folder:
        os.makedirs(folder, exist_ok=True)
        page.screenshot(path=os.path.join(folder, f"{name}.png"), full_page=True)


def _unassigned_ticket(app, title):
    """A new ticket of the festival, the agent's to assign (the demo's stay as they are)."""
    from app.models import Project

    with app.app_context():
        project = db.session.query(Project).filter_by(name="Billetterie Festival 2026").one()
        ticket = rules.create_ticket(project, user("client"), rules.TicketDraft(title=title, priority="medium"))
        db.session.commit()
        return ticket.reference


def test_agent_lands_on_the_queue_assigns_from_the_list_and_writes_an_internal_note(app, browser_login, live_url):
    reference = _unassigned_ticket(app, "Le bouton « Payer » reste grisé")
    agent = browser_login("agent")
    agent.goto(f"{live_url}/")
    agent.wait_for_url("**/ticket-queues/mine")
    expect(agent.locator("#queue-tabs li.active")).to_contain_text("Mes tickets")
    for tab in ("Non affectés", "En attente du client", "En retard"):
        expect(agent.locator("#queue-tabs")).to_contain_text(tab)
    _shot(agent, "agent-queue-mine")
    agent.click("#queue-overdue")
    expect(agent.locator("#queue")).to_contain_text("KJC0E3R")
    expect(agent.locator("#queue tr", has_text="KJC0E3R").locator(".overdue")).to_have_text("En retard")
    _shot(agent, "agent-queue-overdue")
    agent.click("#queue-unassigned")
    expect(agent.locator("#queue")).to_contain_text(reference)
    _shot(agent, "agent-queue-unassigned")
    agent.click(f"#queue a:has-text('{reference}')")
    agent.wait_for_url(f"**/extranet/ticket/{reference}")
    options = agent.locator("#assignee option").all_inner_texts()
    assert sorted(options) == ["Inès Benali", "Thomas Girard"]
    agent.select_option("#assignee", label="Thomas Girard")
    agent.click("#assign-button")
    expect(agent.locator(".alert-success")).to_contain_text("affecté à Thomas Girard")
    expect(agent.locator("#ticket-state")).to_have_text("Affecté")
    expect(agent.locator("#ticket-assignee")).to_have_text("Thomas Girard")
    agent.select_option("#canned", label="Prise en charge")
    agent.click("#insert-canned")
    expect(agent.locator("#comment")).to_have_value(re.compile(rf"^Bonjour Xavier Lemoine,.*{reference}", re.S))
    agent.fill("#comment", "Le client a déjà signalé ce souci l'an dernier.")
    agent.click("button[value=note]")
    note = agent.locator("#ticket-history tr.internal-note")
    expect(note).to_contain_text("Note interne")
    expect(note).to_contain_text("Le client a déjà signalé ce souci l'an dernier.")
    _shot(agent, "agent-ticket")


def test_client_lands_on_projects_sees_the_offered_buttons_and_no_internal_note(browser_login, live_url):
    client = browser_login("client")
    client.goto(f"{live_url}/")
    client.wait_for_url("**/extranet/")
    expect(client.locator("h2")).to_contain_text("Mes projets")
    client.goto(f"{live_url}/extranet/ticket/OK899Q5")  # waits for information from the client
    buttons = client.locator("#ticket-actions button").all_inner_texts()
    assert [b.strip() for b in buttons] == ["Ajouter un commentaire", "Retourner le ticket", "Clôturer le ticket"]
    assert client.locator("#assignee, #canned, button[value=note]").count() == 0
    history = client.locator("#ticket-history").inner_text()
    assert "Pouvez-vous nous envoyer le plan" in history and "Relancer le client" not in history
    assert client.locator(".internal-note").count() == 0
    _shot(client, "client-ticket")

    colleague = browser_login("cmartin")
    colleague.goto(f"{live_url}/extranet/ticket/G67TT09")  # in progress, declared by `client`
    expect(colleague.locator("#comment-refused")).to_contain_text("vous pourrez y répondre")
    assert colleague.locator("#ticket-actions").count() == 0


def test_a_reply_by_mail_shows_on_the_ticket_page(app, browser_login, live_url, inbound_mail):
    with app.app_context():
        ticket = rules.create_ticket(db.session.query(ProjectTicket).filter_by(reference="OK899Q5").one().project,
                                     user("client"), rules.TicketDraft(title="Réponse par mail", priority="low"))
        rules.fire(ticket, "ask_client", user("agent"), "Quelle page ?")
        db.session.commit()
        reference, address = ticket.reference, inbound.reply_address(rules.REPLY_KIND, ticket.id, user("client").id)
    assert inbound_mail(address, "Xavier Lemoine <client@guichet.example>",
                        "La page des tarifs.\n\nLe 7 déc. 2026, Guichet a écrit :\n> Quelle page ?\n") == (250, "")
    agent = browser_login("agent")
    agent.goto(f"{live_url}/extranet/ticket/{reference}")
    row = agent.locator("#ticket-history tr", has_text="La page des tarifs.")
    expect(row).to_contain_text("Xavier Lemoine")
    assert "a écrit" not in agent.locator("#ticket-history").inner_text()
    _shot(agent, "agent-ticket-reply-by-mail")
