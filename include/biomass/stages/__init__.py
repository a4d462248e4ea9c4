"""The stages that bring human text in: scrape (stage 1) and license (stage 2)."""
