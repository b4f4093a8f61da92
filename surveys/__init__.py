"""The domain: organisation, journeys, surveys, people, invitations and answers."""
