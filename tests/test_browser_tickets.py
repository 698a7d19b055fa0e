"""A ticket's life in a real browser: the client creates it, the agent processes it,
the client closes it; the closed page then says to open a new ticket."""
import re

from playwright.sync_api import expect


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
    agent.click("button[value=assign]")
    expect(agent.locator("#ticket-state")).to_have_text("Affecté")
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
