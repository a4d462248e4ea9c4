"""Builds the compiled kernels (MinHash; the quality filters' text counts and word splitting; py3langid's automaton
walk); all other metadata lives in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "biomass.dedup._minhash",
            sources=["include/biomass/dedup/_minhash.c"],
            extra_compile_args=["-O3", "-std=c11", "-fno-strict-aliasing"],
        ),
        Extension(
            "biomass.filters._textstats",
            sources=["include/biomass/filters/_textstats.c"],
            extra_compile_args=["-O3", "-std=c11", "-fno-strict-aliasing"],
        ),
        Extension(
            "biomass._langwalk",
            sources=["include/biomass/_langwalk.c"],
            extra_compile_args=["-O3", "-std=c11", "-fno-strict-aliasing"],
        ),
        Extension(
            "biomass.filters._wordsplit",
            sources=["include/biomass/filters/_wordsplit.c"],
            extra_compile_args=["-O3", "-std=c11", "-fno-strict-aliasing"],
        ),
    ]
)
