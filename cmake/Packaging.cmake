# The release artifact: install() rules for qa and the files it reads or documents at run
# time, and CPack settings for one Debian package, `quantumalpha` (docs/packaging.md).
# Included at the end of the top-level CMakeLists.txt, after every target exists.
#
#   <prefix>/bin/qa                                  the binary (stripped by CPack)
#   <prefix>/share/quantumalpha/jobs/slurm/*.sbatch  Slurm templates; qa submit finds them
#                                                    from /proc/self/exe (jobs/slurm.c)
#   <prefix>/share/quantumalpha/dashboard/           the dashboard's files (also embedded in qa)
#   <prefix>/share/quantumalpha/examples/            example configs (docs/examples/)
#   <prefix>/share/doc/quantumalpha/                 README.md and docs/*.md
#
# Version: the Debian version is the project version plus the commit, 0.1.0+g<hash>
# (".dirty" appended when tracked files had changes at configure time), the same stamp
# `qa --version` prints (cmake/build_info.h.in). Dependencies: dpkg-shlibdeps derives the
# libraries' packages from the binary; programs qa or its templates run are listed here.
if(NOT TARGET qa)
  return() # QA_GPU_ONLY: no qa binary, nothing to package
endif()

include(GNUInstallDirs)
# cpack installs what is built and does not build it first (the preinstall target would
# otherwise build every test): `make package` builds, then packages.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)
set(QA_PKG_NAME quantumalpha)
set(QA_PKG_DATADIR ${CMAKE_INSTALL_DATADIR}/${QA_PKG_NAME})
set(QA_PKG_DOCDIR ${CMAKE_INSTALL_DATADIR}/doc/${QA_PKG_NAME})

# qa submit's installed-template lookup is relative to the binary's directory; computed here
# from the same directories the files are installed to, so the two cannot drift apart.
file(RELATIVE_PATH QA_TEMPLATE_REL /p/${CMAKE_INSTALL_BINDIR} /p/${QA_PKG_DATADIR}/jobs/slurm)
if(TARGET qa_jobs)
  target_compile_definitions(qa_jobs PRIVATE QA_SLURM_TEMPLATE_REL="${QA_TEMPLATE_REL}")
endif()

# ---- install rules ------------------------------------------------------------------------
install(TARGETS qa RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
file(GLOB QA_PKG_TEMPLATES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/jobs/slurm/*.sbatch)
install(FILES ${QA_PKG_TEMPLATES} DESTINATION ${QA_PKG_DATADIR}/jobs/slurm)
file(GLOB QA_PKG_DASHBOARD CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/dashboard/*.html
     ${PROJECT_SOURCE_DIR}/dashboard/*.js ${PROJECT_SOURCE_DIR}/dashboard/*.css)
install(FILES ${QA_PKG_DASHBOARD} DESTINATION ${QA_PKG_DATADIR}/dashboard)
# uPlot, when the build fetched it (dashboard/CMakeLists.txt, QA_DASHBOARD_VENDOR): the
# copy embedded in qa, with its MIT licence.
set(QA_PKG_UPLOT ${PROJECT_BINARY_DIR}/dashboard/node_modules/uplot)
install(FILES ${QA_PKG_UPLOT}/dist/uPlot.iife.min.js ${QA_PKG_UPLOT}/dist/uPlot.min.css ${QA_PKG_UPLOT}/LICENSE
        DESTINATION ${QA_PKG_DATADIR}/dashboard/vendor OPTIONAL)
file(GLOB QA_PKG_EXAMPLES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/docs/examples/*.yaml)
install(FILES ${QA_PKG_EXAMPLES} DESTINATION ${QA_PKG_DATADIR}/examples)
file(GLOB QA_PKG_DOCS CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/docs/*.md)
list(REMOVE_ITEM QA_PKG_DOCS ${PROJECT_SOURCE_DIR}/docs/README.md) # one line; README.md is the top-level one
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${QA_PKG_DOCS} DESTINATION ${QA_PKG_DOCDIR})

# ---- the Debian package -------------------------------------------------------------------
set(QA_PACKAGE_MAINTAINER "QuantumAlpha maintainers <quantumalpha@localhost>" CACHE STRING
    "Maintainer field of the Debian package")
set(QA_PACKAGE_HOMEPAGE "" CACHE STRING "Homepage field of the Debian package (omitted when empty)")

string(REGEX REPLACE "-dirty$" "" QA_PKG_COMMIT "${QA_GIT_HASH}")
if(QA_PKG_COMMIT STREQUAL "unknown")
  set(QA_PKG_VERSION ${PROJECT_VERSION}) # no git: a source tarball
elseif(QA_GIT_HASH MATCHES "-dirty$")
  set(QA_PKG_VERSION ${PROJECT_VERSION}+g${QA_PKG_COMMIT}.dirty)
else()
  set(QA_PKG_VERSION ${PROJECT_VERSION}+g${QA_PKG_COMMIT})
endif()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME ${QA_PKG_NAME})
set(CPACK_PACKAGE_VERSION ${QA_PKG_VERSION})
set(CPACK_PACKAGE_CONTACT "${QA_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGE_VENDOR QuantumAlpha)
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "GPU-first HPC batch platform for quantitative research")
set(CPACK_OUTPUT_FILE_PREFIX ${PROJECT_BINARY_DIR}/package)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT) # quantumalpha_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_VERSION ${QA_PKG_VERSION})
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${QA_PACKAGE_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_SECTION science)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_COMPRESSION_TYPE xz)
if(QA_PACKAGE_HOMEPAGE)
  set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "${QA_PACKAGE_HOMEPAGE}")
endif()
# Backends of this build, as `qa --version` names them.
set(QA_PKG_BACKENDS cpu)
if(QA_HAVE_CUDA)
  set(QA_PKG_BACKENDS cpu+cuda)
endif()
# The extended description: CPack puts the summary first and indents these lines.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "The qa command: an HDF5 market store sharded over MPI ranks, features, alternative
data, vectorised backtest sweeps, an event-driven simulator, MLP/LSTM training and a
model registry, risk and stress testing, Slurm job templates, a live service over
Kafka with FIX execution, reinforcement learning, and an HTTP API with a web dashboard.

Built from git commit ${QA_GIT_HASH} (${CMAKE_BUILD_TYPE}, backends: ${QA_PKG_BACKENDS}).")

# Libraries: dpkg-shlibdeps over the installed binary (needs dpkg-dev). Programs: qa runs
# only /bin/sh (Essential) and itself; its Slurm templates run srun and scontrol, and
# multi-rank runs start under mpirun, so those are recommended, not required.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "openmpi-bin, slurm-client")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "hdf5-tools, python3-h5py")

include(CPack)
qa_report("Debian package (make package)" CPACK_DEBIAN_PACKAGE_VERSION
          "${QA_PKG_NAME}_${QA_PKG_VERSION} -> ${CPACK_OUTPUT_FILE_PREFIX}")
